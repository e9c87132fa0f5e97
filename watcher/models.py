"""Plain data shared by the pipeline stages."""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How one (target, region) ended in a run."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    ERROR = "error"
    BLOCKED = "blocked"
    REGION_MISMATCH = "region_mismatch"
    SKIPPED = "skipped"

    @property
    def failed(self) -> bool:
        return self in (Status.ERROR, Status.BLOCKED, Status.REGION_MISMATCH)

    @property
    def recorded(self) -> bool:
        return self in (Status.NEW, Status.CHANGED)


class Category(StrEnum):
    """What a changed sentence is about, for the three questions people ask."""

    DATA_SOURCES = "data_sources"
    EXEMPTIONS = "exemptions"
    OPT_OUT = "opt_out"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    Category.DATA_SOURCES: "data sources",
    Category.EXEMPTIONS: "exemptions",
    Category.OPT_OUT: "opt-out",
    Category.OTHER: "other",
}
STATUSES = tuple(Status)
CATEGORIES = tuple(Category)


def category_labels(categories: list[str] | tuple[str, ...], *, other: bool = True) -> list[str]:
    """Readable labels, in the order given; `other` left out unless asked for."""
    return [
        CATEGORY_LABELS.get(Category(c), c) if c in CATEGORIES else c
        for c in categories
        if other or c != Category.OTHER
    ]


class FetcherKind(StrEnum):
    HTTP = "http"
    BROWSER = "browser"
    AUTO = "auto"


class VariantBy(StrEnum):
    IP = "ip"  # the egress picks the variant (Facebook, Instagram)
    URL = "url"  # the URL does (WhatsApp, Meta AI terms)


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


class AlertMode(StrEnum):
    DIGEST = "digest"  # one message per destination and run
    EACH = "each"  # one message per change


class AlertKind(StrEnum):
    CHANGE = "change"
    FAILURE = "failure"
    RECOVERY = "recovery"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    direct: bool = False  # may run without WATCHER_PROXY_<CODE>
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def proxy_env(self) -> str:
        return f"WATCHER_PROXY_{self.code.upper()}"


@dataclass(frozen=True)
class ExtractRules:
    root: tuple[str, ...] = ("#root", "main", "body")
    anchors: tuple[str, ...] = ()
    headings: tuple[re.Pattern[str], ...] = ()
    phrases: tuple[re.Pattern[str], ...] = ()
    min_sentences: int = 1


@dataclass(frozen=True)
class CategoryRule:
    name: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class ArchiveSource:
    """Where an Open Terms Archive versions repository keeps this target's history:
    `<service>/<terms>.md`; `component` picks one page of a file that combines several
    (separated by `- - -` lines), as the first part containing that phrase."""

    service: str
    terms: str
    component: str | None = None

    @property
    def path(self) -> str:
        return f"{self.service}/{self.terms}.md"


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    url: str
    regions: tuple[str, ...]
    extract: ExtractRules
    fetcher: FetcherKind = FetcherKind.HTTP
    base_url: str | None = None  # public address links are resolved against (mirrors)
    variant_by: VariantBy = VariantBy.IP
    markers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_length: int = 2000
    max_shrink: float = 0.5
    expect: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    archive: ArchiveSource | None = None
    allow_redirect_hosts: tuple[str, ...] = ()  # hosts a redirect may lead to (or *.domain)

    @property
    def link_base(self) -> str:
        return self.base_url or self.url


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = (
        "watcher/{version} (+https://github.com/watcher-ai-policy/watcher; "
        "monitors Meta privacy policy wording on AI training)"
    )
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 2
    backoff: float = 1.0
    max_retry_after: float = 60.0
    max_bytes: int = 8_000_000
    max_redirects: int = 5
    concurrency: int = 4
    region_retries: int = 2
    confirm: bool = True
    # seconds after the start of a run after which no page is started (the scheduled job
    # is stopped at 30 minutes; this leaves time to commit, push and send)
    run_deadline: float = 1200.0


@dataclass(frozen=True)
class Route:
    """Alerts matching these filters also go to the apprise URLs tagged `tag`."""

    tag: str
    targets: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    failures: bool = True

    def wants(self, target: str, region: str, categories: list[str], kind: AlertKind) -> bool:
        if self.targets and target not in self.targets:
            return False
        if self.regions and region not in self.regions:
            return False
        if kind == AlertKind.CHANGE:
            return not self.categories or bool(set(self.categories) & set(categories))
        return self.failures


@dataclass(frozen=True)
class AlertSettings:
    categories: tuple[str, ...] = ("data_sources", "exemptions", "opt_out")
    mode: AlertMode = AlertMode.DIGEST
    failure_threshold: int = 3
    routes: tuple[Route, ...] = ()
    config_file: str | None = None


@dataclass(frozen=True)
class Config:
    targets: tuple[Target, ...]
    regions: dict[str, Region]
    fetch: FetchSettings
    categories: tuple[CategoryRule, ...]
    alerts: AlertSettings
    path: str = "targets.yaml"

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        known = ", ".join(t.id for t in self.targets)
        from .errors import ConfigError

        raise ConfigError(f"unknown target '{target_id}' (known: {known})")


@dataclass
class Result:
    """What happened to one (target, region) in a run; the `--json` contract."""

    target: str
    region: str
    url: str
    name: str = ""
    status: Status = Status.UNCHANGED
    categories: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    snapshot: str | None = None
    commit: str | None = None
    error: str | None = None
    sentences: int = 0
    events: list[str] = field(default_factory=list)
    alert: bool = False
    same_input: bool = False  # the page was byte-identical to the snapshot's source
    # the page differed from the snapshot's source only in what no snapshot reads (tracking
    # values, CDN hosts, class names, nonces, scripts, styles: see watcher.stable)
    same_stable_form: bool = False
    internal: bool = False  # a bug in watcher, not a page failure: never a failure streak

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "region": self.region,
            "name": self.name,
            "url": self.url,
            "status": self.status,
            "categories": list(self.categories),
            "added": list(self.added),
            "removed": list(self.removed),
            "events": list(self.events),
            "snapshot": self.snapshot,
            "commit": self.commit,
            "error": self.error,
            "sentences": self.sentences,
            "alert": self.alert,
            "same_input": self.same_input,
            "same_stable_form": self.same_stable_form,
            "internal": self.internal,
        }


@dataclass
class Alert:
    """One message waiting in a region's outbox, with the destinations that have it."""

    id: str
    kind: AlertKind
    target: str
    region: str
    title: str
    text: str
    html: str
    source_url: str
    created_at: str
    categories: list[str] = field(default_factory=list)
    commit: str | None = None
    tags: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # keyed ids of destinations
    # destinations a send was started to and not yet settled: recorded (and pushed) before
    # the send, so a run killed during it, or whose push failed after it, never sends again
    sending: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # settled without knowing the outcome
    attempts: int = 0
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["kind"] = AlertKind(known.get("kind", AlertKind.CHANGE))
        return cls(**known)


@dataclass
class Streak:
    """Runs in a row that a (target, region) failed; alerted once at the threshold."""

    count: int = 0
    alerted: bool = False
    status: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Streak:
        return cls(
            count=int(data.get("count", 0)),
            alerted=bool(data.get("alerted", False)),
            status=str(data.get("status") or ""),
            reason=str(data.get("reason") or ""),
        )


@dataclass
class SnapshotMeta:
    """The small metadata file beside a snapshot; it changes only when the text does."""

    target: str = ""
    region: str = ""
    name: str = ""
    url: str = ""
    sha256: str = ""
    sentences: int = 0
    page_chars: int = 0
    recorded_at: str = ""
    matched: dict[str, list[str]] = field(default_factory=dict)
    input: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer watcher wrote

    def to_json(self) -> dict[str, Any]:
        # as asdict() would give it, without its deep copy of every string of `matched`
        # (a page's outline has hundreds): the lists are copied, their strings need not be
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["matched"] = {k: list(v) for k, v in self.matched.items()}
        extra = deepcopy(data.pop("extra"))
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SnapshotMeta:
        fields = cls.__dataclass_fields__
        known = {k: v for k, v in data.items() if k in fields and k != "extra"}
        extra = {k: v for k, v in data.items() if k not in fields}
        meta = cls(**known)
        meta.sentences, meta.page_chars = int(meta.sentences), int(meta.page_chars)
        meta.extra = extra
        return meta
