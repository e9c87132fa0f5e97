"""Load and validate targets.yaml.

Every problem is collected and reported at once, each as `location: message`, for example
`targets[3].regions[1]: unknown region 'eu2' (known: eu, uk, us)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError
from .models import (
    CATEGORIES,
    AlertMode,
    ArchiveSource,
    AlertSettings,
    CategoryRule,
    Config,
    ExtractRules,
    FetcherKind,
    FetchSettings,
    Region,
    Route,
    Target,
    VariantBy,
)

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REGION_RE = re.compile(r"^[a-z]{2,8}$")
FETCHERS = tuple(FetcherKind)
VARIANT_BY = tuple(VariantBy)
ALERT_MODES = tuple(AlertMode)

# Structural section ids only: Meta's class names (.bh, .bk) are reassigned and must not be used.
_CLASS_SELECTOR = re.compile(r"(^|[\s>+~,])\.[A-Za-z_-]|[A-Za-z0-9\]]\.[A-Za-z_-]")


class _Checker:
    """Collects problems with their location instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(where, f"must be a mapping, not {_kind(value)}")
            return {}
        return value

    def keys(self, value: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in value:
            if key not in allowed:
                self.add(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key (allowed: {', '.join(allowed)})",
                )

    def string(self, value: Any, where: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(where, f"must be a non-empty string, not {_kind(value)}")
            return None
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(where, f"must be a list of strings, not {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            s = self.string(item, f"{where}[{i}]")
            if s is not None:
                out.append(s)
        return out

    def number(
        self, value: Any, where: str, default: float, *, minimum: float = 0, integer: bool = False
    ) -> Any:
        if value is None:
            return default
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            self.add(
                where, f"must be {'an integer' if integer else 'a number'}, not {_kind(value)}"
            )
            return default
        if value < minimum:
            self.add(where, f"must be at least {minimum}")
            return default
        return value

    def boolean(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(where, f"must be true or false, not {_kind(value)}")
            return default
        return value

    def patterns(self, value: Any, where: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for i, source in enumerate(self.strings(value, where)):
            try:
                out.append(re.compile(source, re.IGNORECASE))
            except re.error as exc:
                self.add(f"{where}[{i}]", f"invalid regular expression {source!r}: {exc}")
        return tuple(out)

    def choice(self, value: Any, where: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            self.add(where, f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return str(value)

    def str_map(self, value: Any, where: str) -> dict[str, str]:
        out = {}
        for key, item in self.mapping(value, where).items():
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                self.add(f"{where}.{key}", f"must be a string, not {_kind(item)}")
            else:
                out[str(key)] = str(item)
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _url(c: _Checker, value: Any, where: str, *, required: bool) -> str | None:
    url = c.string(value, where, required=required)
    if url is None:
        return None
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.netloc:
        c.add(where, f"must be an http:// or https:// URL, not {url!r}")
        return None
    return url


def _fetch(c: _Checker, raw: Any) -> FetchSettings:
    data = c.mapping(raw, "fetch")
    d = FetchSettings()
    allowed = tuple(FetchSettings.__dataclass_fields__)
    c.keys(data, "fetch", allowed)
    return FetchSettings(
        user_agent=c.string(data.get("user_agent"), "fetch.user_agent") or d.user_agent,
        timeout=c.number(data.get("timeout"), "fetch.timeout", d.timeout, minimum=0.1),
        connect_timeout=c.number(
            data.get("connect_timeout"), "fetch.connect_timeout", d.connect_timeout, minimum=0.1
        ),
        retries=c.number(data.get("retries"), "fetch.retries", d.retries, integer=True),
        backoff=c.number(data.get("backoff"), "fetch.backoff", d.backoff),
        max_retry_after=c.number(
            data.get("max_retry_after"), "fetch.max_retry_after", d.max_retry_after
        ),
        max_bytes=c.number(
            data.get("max_bytes"), "fetch.max_bytes", d.max_bytes, minimum=1024, integer=True
        ),
        max_redirects=c.number(
            data.get("max_redirects"), "fetch.max_redirects", d.max_redirects, integer=True
        ),
        concurrency=c.number(
            data.get("concurrency"), "fetch.concurrency", d.concurrency, minimum=1, integer=True
        ),
        region_retries=c.number(
            data.get("region_retries"), "fetch.region_retries", d.region_retries, integer=True
        ),
        confirm=c.boolean(data.get("confirm"), "fetch.confirm", d.confirm),
    )


def _regions(c: _Checker, raw: Any) -> dict[str, Region]:
    data = c.mapping(raw, "regions")
    if not data:
        c.add("regions", "at least one region is required (for example eu, uk, us)")
    regions = {}
    for code, body in data.items():
        where = f"regions.{code}"
        if not isinstance(code, str) or not REGION_RE.match(code):
            c.add(where, "region codes are 2 to 8 lower-case letters (eu, uk, us)")
            continue
        body = c.mapping(body, where)
        c.keys(body, where, ("name", "direct", "headers", "cookies"))
        regions[code] = Region(
            code=code,
            name=c.string(body.get("name"), f"{where}.name") or code.upper(),
            direct=c.boolean(body.get("direct"), f"{where}.direct", False),
            headers=c.str_map(body.get("headers"), f"{where}.headers"),
            cookies=c.str_map(body.get("cookies"), f"{where}.cookies"),
        )
    return regions


SHIPPED_CATEGORIES = Path(__file__).parent / "categories.yaml"


def shipped_categories() -> dict[str, list[str]]:
    """The category patterns watcher ships for Meta's pages."""
    data: dict[str, dict[str, list[str]]] = yaml.safe_load(
        SHIPPED_CATEGORIES.read_text(encoding="utf-8")
    )
    return data["categories"]


def _categories(c: _Checker, raw: Any) -> tuple[CategoryRule, ...]:
    # a category named in targets.yaml replaces the shipped one; the others stay
    data = {**shipped_categories(), **c.mapping(raw, "categories")}
    rules = []
    for name, patterns in data.items():
        where = f"categories.{name}"
        if name not in CATEGORIES or name == "other":
            known = ", ".join(x for x in CATEGORIES if x != "other")
            c.add(where, f"unknown category (known: {known}; 'other' is what matches none)")
            continue
        rules.append(CategoryRule(name=name, patterns=c.patterns(patterns, where)))
    return tuple(rules)


def _alerts(
    c: _Checker, raw: Any, target_ids: set[str], regions: dict[str, Region]
) -> AlertSettings:
    data = c.mapping(raw, "alerts")
    c.keys(data, "alerts", ("categories", "mode", "failure_threshold", "routes", "config_file"))
    cats = (
        c.strings(data.get("categories"), "alerts.categories")
        if "categories" in data
        else list(AlertSettings().categories)
    )
    for i, cat in enumerate(cats):
        if cat not in CATEGORIES:
            c.add(
                f"alerts.categories[{i}]",
                f"unknown category '{cat}' (known: {', '.join(CATEGORIES)})",
            )
    routes = []
    raw_routes = data.get("routes") or []
    if not isinstance(raw_routes, list):
        c.add("alerts.routes", f"must be a list, not {_kind(raw_routes)}")
        raw_routes = []
    for i, route in enumerate(raw_routes):
        where = f"alerts.routes[{i}]"
        route = c.mapping(route, where)
        c.keys(route, where, ("tag", "targets", "regions", "categories", "failures"))
        tag = c.string(route.get("tag"), f"{where}.tag", required=True)
        r_targets = c.strings(route.get("targets"), f"{where}.targets")
        for j, t in enumerate(r_targets):
            if t not in target_ids:
                c.add(f"{where}.targets[{j}]", f"unknown target '{t}'")
        r_regions = c.strings(route.get("regions"), f"{where}.regions")
        for j, r in enumerate(r_regions):
            if r not in regions:
                c.add(
                    f"{where}.regions[{j}]", f"unknown region '{r}' (known: {', '.join(regions)})"
                )
        r_cats = c.strings(route.get("categories"), f"{where}.categories")
        for j, cat in enumerate(r_cats):
            if cat not in CATEGORIES:
                c.add(f"{where}.categories[{j}]", f"unknown category '{cat}'")
        routes.append(
            Route(
                tag=tag or "",
                targets=tuple(r_targets),
                regions=tuple(r_regions),
                categories=tuple(r_cats),
                failures=c.boolean(route.get("failures"), f"{where}.failures", True),
            )
        )
    return AlertSettings(
        categories=tuple(cats),
        mode=AlertMode(c.choice(data.get("mode"), "alerts.mode", ALERT_MODES, "digest")),
        failure_threshold=c.number(
            data.get("failure_threshold"), "alerts.failure_threshold", 3, minimum=1, integer=True
        ),
        routes=tuple(routes),
        config_file=c.string(data.get("config_file"), "alerts.config_file"),
    )


def _extract(c: _Checker, raw: Any, where: str) -> ExtractRules:
    data = c.mapping(raw, where)
    c.keys(data, where, ("root", "anchors", "headings", "phrases", "min_sentences"))
    roots = c.strings(data.get("root"), f"{where}.root") or list(ExtractRules().root)
    for i, sel in enumerate(roots):
        if _CLASS_SELECTOR.search(sel):
            c.add(
                f"{where}.root[{i}]",
                f"class selectors like {sel!r} break when Meta renames "
                "its obfuscated classes; use ids, tags or attributes",
            )
    rules = ExtractRules(
        root=tuple(roots),
        anchors=tuple(c.strings(data.get("anchors"), f"{where}.anchors")),
        headings=c.patterns(data.get("headings"), f"{where}.headings"),
        phrases=c.patterns(data.get("phrases"), f"{where}.phrases"),
        min_sentences=c.number(
            data.get("min_sentences"), f"{where}.min_sentences", 1, minimum=1, integer=True
        ),
    )
    if not (rules.anchors or rules.headings or rules.phrases):
        c.add(where, "needs at least one of anchors, headings or phrases")
    return rules


TARGET_KEYS = (
    "id",
    "name",
    "url",
    "base_url",
    "fetcher",
    "regions",
    "variant_by",
    "markers",
    "min_length",
    "max_shrink",
    "expect",
    "tags",
    "extract",
    "archive",
)


def _target(c: _Checker, raw: Any, where: str, regions: dict[str, Region]) -> Target | None:
    if not isinstance(raw, dict):
        c.add(where, f"must be a mapping, not {_kind(raw)}")
        return None
    c.keys(raw, where, TARGET_KEYS)
    tid = c.string(raw.get("id"), f"{where}.id", required=True)
    if tid and not ID_RE.match(tid):
        c.add(
            f"{where}.id",
            f"'{tid}' must be lower-case letters, digits and dashes "
            "(it names the snapshots folder)",
        )
    url = _url(c, raw.get("url"), f"{where}.url", required=True)
    base_url = _url(c, raw.get("base_url"), f"{where}.base_url", required=False)
    known = ", ".join(regions)
    t_regions = c.strings(raw.get("regions"), f"{where}.regions")
    if "regions" not in raw:
        c.add(f"{where}.regions", f"is required (known: {known})")
    for i, code in enumerate(t_regions):
        if code not in regions:
            c.add(f"{where}.regions[{i}]", f"unknown region '{code}' (known: {known})")
    if len(set(t_regions)) != len(t_regions):
        c.add(f"{where}.regions", "lists a region twice")
    markers: dict[str, tuple[str, ...]] = {}
    variant_by = VariantBy(c.choice(raw.get("variant_by"), f"{where}.variant_by", VARIANT_BY, "ip"))
    raw_markers = raw.get("markers")
    if raw_markers == "none" or (isinstance(raw_markers, dict) and "none" in raw_markers):
        # `markers: {none: "why"}`: a page with no regional wording, stored per region as
        # served; the reason is required, so nobody drops the variant check by accident
        why = raw_markers.get("none") if isinstance(raw_markers, dict) else None
        if not isinstance(why, str) or not why.strip() or len(raw_markers) > 1:
            c.add(
                f"{where}.markers",
                "`none` needs a reason and nothing beside it, "
                'for example `markers: {none: "the page has no regional wording"}`',
            )
        raw_markers = {}
    elif variant_by == VariantBy.IP and not raw_markers:
        c.add(
            f"{where}.markers",
            "is required when the region is chosen by IP (variant_by: ip): without markers "
            "another region's text would be stored as this one's; list each region's "
            'phrases, or say `markers: {none: "why"}` for a page with no regional wording',
        )
    for code, phrases in c.mapping(raw_markers, f"{where}.markers").items():
        if code not in regions:
            c.add(f"{where}.markers.{code}", f"unknown region '{code}' (known: {known})")
            continue
        markers[code] = tuple(c.strings(phrases, f"{where}.markers.{code}"))
    if markers:
        for i, code in enumerate(t_regions):
            if code in regions and code not in markers:
                c.add(
                    f"{where}.regions[{i}]",
                    f"region '{code}' has no entry in markers "
                    "(use an empty list for the variant that carries no other region's markers)",
                )
    if markers and sum(1 for v in markers.values() if not v) > 1:
        c.add(f"{where}.markers", "only one region can be the unmarked variant (empty list)")
    max_shrink = c.number(raw.get("max_shrink"), f"{where}.max_shrink", 0.5)
    if max_shrink > 1:
        c.add(f"{where}.max_shrink", "is a fraction between 0 and 1")
    target = Target(
        id=tid or "?",
        name=c.string(raw.get("name"), f"{where}.name") or (tid or "?"),
        url=url or "http://invalid/",
        base_url=base_url,
        regions=tuple(t_regions),
        fetcher=FetcherKind(c.choice(raw.get("fetcher"), f"{where}.fetcher", FETCHERS, "http")),
        variant_by=variant_by,
        markers=markers,
        min_length=c.number(raw.get("min_length"), f"{where}.min_length", 2000, integer=True),
        max_shrink=max_shrink,
        expect=tuple(c.strings(raw.get("expect"), f"{where}.expect")),
        tags=tuple(c.strings(raw.get("tags"), f"{where}.tags")),
        extract=_extract(c, raw.get("extract"), f"{where}.extract"),
        archive=_archive(c, raw.get("archive"), f"{where}.archive"),
    )
    return target


def _archive(c: _Checker, raw: Any, where: str) -> ArchiveSource | None:
    """`archive: {service: Facebook, terms: Privacy Policy, component: "phrase"}`."""
    if raw is None:
        return None
    data = c.mapping(raw, where)
    c.keys(data, where, ("service", "terms", "component"))
    service = c.string(data.get("service"), f"{where}.service", required=True)
    terms = c.string(data.get("terms"), f"{where}.terms", required=True)
    for key, value in (("service", service), ("terms", terms)):
        if value and ("/" in value or value.startswith(".")):
            c.add(f"{where}.{key}", f"must be a name, not a path: {value!r}")
    return ArchiveSource(
        service or "", terms or "", c.string(data.get("component"), f"{where}.component")
    )


TOP_KEYS = ("version", "fetch", "regions", "categories", "alerts", "targets")


def parse_config(data: Any, path: str = "targets.yaml") -> Config:
    """Validate already-loaded YAML data; raise ConfigError listing every problem."""
    c = _Checker()
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: file must contain a mapping with a 'targets' list, not {_kind(data)}"
        )
    c.keys(data, "", TOP_KEYS)
    version = data.get("version", 1)
    if version != 1:
        c.add("version", f"unsupported version {version!r} (this watcher reads version 1)")
    fetch = _fetch(c, data.get("fetch"))
    regions = _regions(c, data.get("regions"))
    categories = _categories(c, data.get("categories"))
    raw_targets = data.get("targets")
    targets: list[Target] = []
    if not isinstance(raw_targets, list) or not raw_targets:
        c.add("targets", "must be a non-empty list of targets")
        raw_targets = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_targets):
        target = _target(c, raw, f"targets[{i}]", regions)
        if target is None:
            continue
        if target.id in seen:
            c.add(
                f"targets[{i}].id", f"duplicate id '{target.id}' (also targets[{seen[target.id]}])"
            )
        seen.setdefault(target.id, i)
        targets.append(target)
    alerts = _alerts(c, data.get("alerts"), set(seen), regions)
    if c.problems:
        raise ConfigError([f"{path}: {p}" if not p.startswith(path) else p for p in c.problems])
    return Config(
        targets=tuple(targets),
        regions=regions,
        fetch=fetch,
        categories=categories,
        alerts=alerts,
        path=path,
    )


def load_config(path: str | Path = "targets.yaml") -> Config:
    """Read and validate a targets file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        # libyaml's loader when present: 8x faster on a long watch list
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {place}invalid YAML: {problem}") from None
    return parse_config(data, str(path))


def select(
    config: Config,
    targets: list[str] | None,
    regions: list[str] | None,
) -> list[tuple[Target, str]]:
    """Expand targets × regions, applying --target/--region filters (unknown names are errors)."""
    problems = []
    ids = {t.id for t in config.targets}
    for t in targets or []:
        if t not in ids:
            problems.append(f"--target: unknown target '{t}' (known: {', '.join(sorted(ids))})")
    for r in regions or []:
        if r not in config.regions:
            problems.append(f"--region: unknown region '{r}' (known: {', '.join(config.regions)})")
    if problems:
        raise ConfigError(problems)
    keep: Callable[[Target, str], bool] = lambda t, r: (  # noqa: E731
        (not targets or t.id in targets) and (not regions or r in regions)
    )
    return [(t, r) for t in config.targets for r in t.regions if keep(t, r)]
