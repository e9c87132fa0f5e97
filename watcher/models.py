"""Plain data shared by the pipeline stages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("new", "changed", "unchanged", "error", "blocked", "region_mismatch", "skipped")
CATEGORIES = ("data_sources", "exemptions", "opt_out", "other")


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
class Target:
    id: str
    name: str
    url: str
    regions: tuple[str, ...]
    extract: ExtractRules
    fetcher: str = "http"  # http | browser | auto
    base_url: str | None = None  # public address links are resolved against (mirrors)
    variant_by: str = "ip"  # ip: the egress picks the variant; url: the URL does
    markers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_length: int = 2000
    max_shrink: float = 0.5
    expect: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class AlertSettings:
    categories: tuple[str, ...] = ("data_sources", "exemptions", "opt_out")
    mode: str = "digest"  # digest | each
    failure_threshold: int = 3
    routes: tuple[dict[str, Any], ...] = ()
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
    status: str = "unchanged"
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
        }
