"""Load and validate targets.yaml.

Every problem is collected and reported at once, each as `location: message`, for example
`targets[3].regions[1]: unknown region 'eu2' (known: eu, uk, us)`.
"""

from __future__ import annotations

import importlib
import math
import re
import string
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import __version__
from .errors import ConfigError
from .models import (
    CATEGORIES,
    AlertMode,
    AlertSettings,
    ArchiveSource,
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
        self,
        value: Any,
        where: str,
        default: float,
        *,
        minimum: float = 0,
        maximum: float | None = None,
        integer: bool = False,
    ) -> Any:
        if value is None:
            return default
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            self.add(
                where, f"must be {'an integer' if integer else 'a number'}, not {_kind(value)}"
            )
            return default
        if not math.isfinite(value):
            shown = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
            self.add(where, f"must be a finite number, not {shown}")
            return default
        if value < minimum:
            self.add(where, f"must be at least {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.add(where, f"must be at most {maximum}")
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
                pattern = re.compile(source, re.IGNORECASE)
            except re.error as exc:
                self.add(f"{where}[{i}]", f"invalid regular expression {source!r}: {exc}")
                continue
            risk = backtracking_risk(source, re.IGNORECASE)
            if risk:
                self.add(
                    f"{where}[{i}]",
                    f"regular expression {source!r} can take exponential time on some text "
                    f"({risk}); rewrite it without the nesting, or make the inner part "
                    "atomic (?>…) or possessive (a++)",
                )
                continue
            out.append(pattern)
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


def _shown_url(url: str) -> str:
    """The URL with any user:password@ part masked, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "****@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"


def _url(c: _Checker, value: Any, where: str, *, required: bool) -> str | None:
    url = c.string(value, where, required=required)
    if url is None:
        return None
    shown = _shown_url(url)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        c.add(where, f"must not contain spaces or control characters: {shown!r}")
        return None
    try:
        split = urlsplit(url)
        split.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        c.add(where, f"is not a valid URL ({exc}): {shown!r}")
        return None
    if split.scheme not in ("http", "https") or not split.netloc:
        c.add(where, f"must be an http:// or https:// URL, not {shown!r}")
        return None
    if "@" in split.netloc:
        c.add(
            where,
            f"must not hold credentials ({shown}): they would be printed, committed and sent "
            "in alerts; a page watcher watches is public",
        )
        return None
    if not split.hostname:
        c.add(where, f"has no host name: {shown!r}")
        return None
    return url


# RFC 9110 §5.6.2: a header or cookie name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# RFC 6265 §4.1.1: cookie-octets, optionally in double quotes.
_COOKIE_VALUE = re.compile(
    r'^(?:"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*"|[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*)$'
)
# Headers the HTTP fetcher sets itself: framing and connection, and the encodings it decodes.
_OWN_HEADERS = (
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "accept-encoding",
    "cookie",
)


def _header_value_problem(value: str) -> str | None:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "must be Latin-1 text (HTTP headers cannot carry other characters)"
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value):
        return "must not contain line breaks or control characters"
    return None


def _headers(c: _Checker, headers: dict[str, str], where: str) -> None:
    for name, value in headers.items():
        place = f"{where}.{name}"
        if not _TOKEN.match(name):
            c.add(place, "is not a valid header name (letters, digits and -, no spaces)")
            continue
        if name.lower() in _OWN_HEADERS:
            hint = " (cookies go under `cookies:`)" if name.lower() == "cookie" else ""
            c.add(place, f"is set by watcher itself and cannot be configured{hint}")
            continue
        problem = _header_value_problem(value)
        if problem:
            c.add(place, problem)


def _cookies(c: _Checker, cookies: dict[str, str], where: str) -> None:
    for name, value in cookies.items():
        place = f"{where}.{name}"
        if not _TOKEN.match(name):
            c.add(place, "is not a valid cookie name (letters, digits and -, no spaces or =)")
        elif not _COOKIE_VALUE.match(value):
            c.add(
                place,
                "is not a valid cookie value: no spaces, quotes, commas, semicolons, "
                "backslashes or non-ASCII characters (RFC 6265)",
            )


def _user_agent(c: _Checker, value: Any, default: str) -> str:
    where = "fetch.user_agent"
    ua = c.string(value, where)
    if ua is None:
        return default
    try:
        extra = [
            f"{{{f}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
            for _, f, spec, conv in string.Formatter().parse(ua)
            if f is not None and (f != "version" or spec or conv)
        ]
    except ValueError as exc:
        c.add(
            where,
            f"is not a valid template ({exc}): {{version}} is the only field, "
            "and a literal brace is written {{ or }}",
        )
        return default
    if extra:
        c.add(
            where,
            f"may name only {{version}} in braces, not {', '.join(extra)} "
            "(a literal brace is written {{ or }})",
        )
        return default
    problem = _header_value_problem(ua.format(version=__version__))
    if problem:
        c.add(where, problem)
        return default
    return ua


# A host name (or an IP address), or *. and a domain for the names under it.
_HOST = re.compile(
    r"^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _hosts(c: _Checker, value: Any, where: str) -> tuple[str, ...]:
    out = []
    for i, host in enumerate(c.strings(value, where)):
        if not _HOST.match(host):
            c.add(
                f"{where}[{i}]",
                f"must be a host name such as www.facebook.com or *.facebook.com, not {host!r}",
            )
        else:
            out.append(host.lower())
    return tuple(out)


def _selector_problem(selector: str) -> str | None:
    """Why lexbor would refuse this CSS selector at run time, or None."""
    from selectolax.lexbor import LexborHTMLParser

    try:
        LexborHTMLParser("<p></p>").css_first(selector)
    except Exception as exc:  # selectolax raises several types for a bad selector
        return f"invalid CSS selector {selector!r}: {exc}"
    return None


def _fetch(c: _Checker, raw: Any) -> FetchSettings:
    data = c.mapping(raw, "fetch")
    d = FetchSettings()
    allowed = tuple(FetchSettings.__dataclass_fields__)
    c.keys(data, "fetch", allowed)

    def num(key: str, minimum: float = 0, *, integer: bool = False) -> Any:
        return c.number(
            data.get(key),
            f"fetch.{key}",
            getattr(d, key),
            minimum=minimum,
            maximum=FETCH_MAXIMA[key],
            integer=integer,
        )

    return FetchSettings(
        user_agent=_user_agent(c, data.get("user_agent"), d.user_agent),
        timeout=num("timeout", 0.1),
        connect_timeout=num("connect_timeout", 0.1),
        retries=num("retries", integer=True),
        backoff=num("backoff"),
        max_retry_after=num("max_retry_after"),
        max_bytes=num("max_bytes", 1024, integer=True),
        max_redirects=num("max_redirects", integer=True),
        concurrency=num("concurrency", 1, integer=True),
        region_retries=num("region_retries", integer=True),
        confirm=c.boolean(data.get("confirm"), "fetch.confirm", d.confirm),
        run_deadline=num("run_deadline", 1),
    )


# Bounds a run can live with (targets.schema.json says the same): seconds, counts, bytes.
FETCH_MAXIMA: dict[str, float] = {
    "timeout": 3600,
    "connect_timeout": 3600,
    "retries": 100,
    "backoff": 3600,
    "max_retry_after": 86400,
    "max_bytes": 1_000_000_000,
    "max_redirects": 100,
    "concurrency": 256,
    "region_retries": 100,
    "run_deadline": 86400,
}


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
        headers = c.str_map(body.get("headers"), f"{where}.headers")
        _headers(c, headers, f"{where}.headers")
        cookies = c.str_map(body.get("cookies"), f"{where}.cookies")
        _cookies(c, cookies, f"{where}.cookies")
        regions[code] = Region(
            code=code,
            name=c.string(body.get("name"), f"{where}.name") or code.upper(),
            direct=c.boolean(body.get("direct"), f"{where}.direct", False),
            headers=headers,
            cookies=cookies,
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
        elif problem := _selector_problem(sel):
            c.add(f"{where}.root[{i}]", problem)
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
    "allow_redirect_hosts",
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
        allow_redirect_hosts=_hosts(
            c, raw.get("allow_redirect_hosts"), f"{where}.allow_redirect_hosts"
        ),
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


# -- reading the file: a size and alias budget, duplicate keys refused ------------------------

MAX_CONFIG_BYTES = 1_000_000  # a watch list is a few kilobytes
MAX_NODES = 100_000  # values in the document once every alias is expanded
MAX_ALIASES = 1_000
MERGE_TAG = "tag:yaml.org,2002:merge"

# libyaml's parser when present: 8x faster on a long watch list
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Refused(yaml.constructor.ConstructorError):
    """A document watcher refuses although it is valid YAML."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_budget(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_NODES values (a "billion
    laughs"), or that uses more than MAX_ALIASES of them, before anything is built from it.
    Walks each node once, without recursion, so this costs what the file's own size does."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_NODES:
                raise _Refused(
                    None,
                    None,
                    f"the aliases here expand to more than {MAX_NODES} values (a 'billion "
                    "laughs' document?); write the values out instead",
                    node.start_mark,
                )
            sizes[key] = size
            visiting.discard(key)
            continue
        if key in sizes:  # reached again: an alias
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Refused(
                    None, None, f"more than {MAX_ALIASES} aliases (*name)", node.start_mark
                )
            continue
        if key in visiting:
            raise _Refused(
                None, None, "an alias refers to the value that holds it", node.start_mark
            )
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


class _Loader(_BaseLoader):  # type: ignore[misc]
    """yaml's safe loader with a budget on aliases and duplicate keys refused at any level."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_budget(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:  # `<<: *base` and then overriding keys is fine
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first
                except TypeError:  # unhashable: the constructor reports it
                    continue
                if seen:
                    raise _Refused(
                        None,
                        None,
                        f"duplicate key {key!r} (first on line {first[key]}): YAML would keep "
                        "only the last one",
                        key_node.start_mark,
                    )
                first[key] = key_node.start_mark.line + 1
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def load_yaml(text: str, name: str = "targets.yaml") -> Any:
    """Parse a targets file's text as `load_config` does; raises ConfigError."""
    size = len(text.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{name}: file is {size} bytes, more than the {MAX_CONFIG_BYTES} a watch list may be"
        )
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader, with budgets
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        what = "" if isinstance(exc, _Refused) else "invalid YAML: "
        raise ConfigError(f"{name}: {place}{what}{problem}") from None


def load_config(path: str | Path = "targets.yaml") -> Config:
    """Read and validate a targets file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError) and len(raw) > MAX_CONFIG_BYTES:
            text = raw.decode("utf-8", "replace")  # the size is what to report
        else:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: file is larger than {MAX_CONFIG_BYTES} bytes, more than a watch list may be"
        )
    return parse_config(load_yaml(text, str(path)), str(path))


# -- regular expressions that backtrack catastrophically ------------------------------------

_sre: Any = importlib.import_module("re._parser")
_sc: Any = importlib.import_module("re._constants")
_REPEATS = (_sc.MAX_REPEAT, _sc.MIN_REPEAT)
_ONE_CHAR = (_sc.LITERAL, _sc.NOT_LITERAL, _sc.ANY, _sc.IN)
# the characters sets are compared on: ASCII, Latin-1 and some of what Meta's pages hold
_ALPHABET = (
    "".join(map(chr, range(0x250))) + "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u0430\u4e00"
)
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


def _class_source(op: Any, av: Any) -> str:
    """A one-character item of a parsed pattern, written back as a pattern."""
    if op == _sc.LITERAL:
        return re.escape(chr(av))
    if op == _sc.NOT_LITERAL:
        return f"[^{re.escape(chr(av))}]"
    if op == _sc.ANY:
        return "(?s:.)"
    parts = []
    negate = ""
    for kind, value in av:
        if kind == _sc.NEGATE:
            negate = "^"
        elif kind == _sc.LITERAL:
            parts.append(re.escape(chr(value)))
        elif kind == _sc.RANGE:
            parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
        elif kind == _sc.CATEGORY:
            parts.append(_CATEGORIES.get(str(value), r"\s\S"))
        else:
            parts.append(r"\s\S")
    return f"[{negate}{''.join(parts)}]" if parts else "(?s:.)"


class _Analysis:
    """Star height and ambiguity of a parsed pattern, on character sets drawn from _ALPHABET."""

    def __init__(self, flags: int):
        self.flags = flags
        self._sets: dict[str, frozenset[str]] = {}

    def chars(self, op: Any, av: Any) -> frozenset[str]:
        source = _class_source(op, av)
        found = self._sets.get(source)
        if found is None:
            rx = re.compile(source, self.flags)
            found = self._sets[source] = frozenset(ch for ch in _ALPHABET if rx.fullmatch(ch))
        return found

    def items(self, seq: Any) -> Iterator[tuple[Any, Any]]:
        """Every one-character item anywhere inside `seq`."""
        for op, av in seq:
            if op in _ONE_CHAR:
                yield op, av
            for sub in _subpatterns(op, av):
                yield from self.items(sub)

    def all_chars(self, seq: Any) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for op, av in self.items(seq):
            out |= self.chars(op, av)
        if any(op in (_sc.GROUPREF, _sc.GROUPREF_EXISTS) for op, _ in seq):
            out = frozenset(_ALPHABET)
        return out

    def first(self, seq: Any) -> tuple[frozenset[str], bool]:
        """The characters a match of `seq` can start with, and whether it can be empty."""
        out: frozenset[str] = frozenset()
        for op, av in seq:
            if op in _ONE_CHAR:
                return out | self.chars(op, av), False
            if op in (*_REPEATS, _sc.POSSESSIVE_REPEAT):
                chars, empty = self.first(av[2])
                out |= chars
                if av[0] > 0 and not empty:
                    return out, False
            elif op == _sc.SUBPATTERN:
                chars, empty = self.first(av[3])
                out |= chars
                if not empty:
                    return out, False
            elif op == _sc.ATOMIC_GROUP:
                chars, empty = self.first(av)
                out |= chars
                if not empty:
                    return out, False
            elif op == _sc.BRANCH:
                empty_any = False
                for alt in av[1]:
                    chars, empty = self.first(alt)
                    out |= chars
                    empty_any = empty_any or empty
                if not empty_any:
                    return out, False
            elif op in (_sc.GROUPREF, _sc.GROUPREF_EXISTS):
                return frozenset(_ALPHABET), True
            # AT (anchors), ASSERT and ASSERT_NOT match no characters
        return out, True

    def overlapping_branch(self, seq: Any) -> bool:
        """Whether some alternation in `seq` has two alternatives that can match the same
        text's start: both empty, or starting with a common character."""
        for op, av in seq:
            if op == _sc.BRANCH:
                starts = [self.first(alt) for alt in av[1]]
                if sum(1 for _, empty in starts if empty) > 1:
                    return True
                for i, (a, a_empty) in enumerate(starts):
                    for b, b_empty in starts[i + 1 :]:
                        if not (a_empty or b_empty) and a & b:
                            return True
            if op not in (_sc.ATOMIC_GROUP, _sc.POSSESSIVE_REPEAT) and any(
                self.overlapping_branch(sub) for sub in _subpatterns(op, av)
            ):
                return True
        return False

    def split(self, seq: Any) -> tuple[list[tuple[Any, Any]], frozenset[str], bool]:
        """`seq`'s items that every match must contain (one character each); the characters
        its variable parts (quantifiers, alternatives of different lengths) take; and whether
        it has any. Atomic groups and possessive quantifiers are not variable: they never
        give back what they took, so they cannot split one text in two ways."""
        fixed: list[tuple[Any, Any]] = []
        loose: frozenset[str] = frozenset()
        variable = False
        for op, av in seq:
            if op in _ONE_CHAR:
                fixed.append((op, av))
            elif op == _sc.SUBPATTERN:
                f, v, var = self.split(av[3])
                fixed += f
                loose |= v
                variable = variable or var
            elif op in _REPEATS and av[0] == av[1]:
                f, v, var = self.split(av[2])
                fixed += f
                loose |= v
                variable = variable or var
            elif op in _REPEATS or op == _sc.BRANCH:
                lo, hi = _width([(op, av)])
                if lo == hi and op == _sc.BRANCH:
                    continue  # alternatives of one length: the overlap check covers them
                loose |= self.all_chars([(op, av)])
                variable = True
            elif op in (_sc.GROUPREF, _sc.GROUPREF_EXISTS):
                loose = frozenset(_ALPHABET)
                variable = True
        return fixed, loose, variable

    def risk(self, seq: Any) -> str | None:
        for op, av in seq:
            if op in _REPEATS and av[1] > 1:
                body = av[2]
                if self.overlapping_branch(body):
                    return (
                        "a repeated group whose alternatives can match the same text, like (a|a)*"
                    )
                fixed, loose, variable = self.split(body)
                if variable and not any(self.chars(o, a).isdisjoint(loose) for o, a in fixed):
                    return (
                        "a repeated group that can split the same text in many ways, "
                        "like (a+)+, (\\w+\\s?)+ or (.*)*"
                    )
            for sub in _subpatterns(op, av):
                found = self.risk(sub)
                if found:
                    return found
        return None


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op in (*_REPEATS, _sc.POSSESSIVE_REPEAT):
        return [av[2]]
    if op == _sc.SUBPATTERN:
        return [av[3]]
    if op == _sc.BRANCH:
        return list(av[1])
    if op == _sc.ATOMIC_GROUP:
        return [av]
    if op in (_sc.ASSERT, _sc.ASSERT_NOT):
        return [av[1]]
    if op == _sc.GROUPREF_EXISTS:
        return [sub for sub in av[1:] if sub is not None]
    return []


def _width(seq: Any) -> tuple[int, int]:
    sub = seq if hasattr(seq, "getwidth") else _sre.SubPattern(_sre.State(), list(seq))
    lo, hi = sub.getwidth()
    return int(lo), int(hi)


@lru_cache(maxsize=4096)  # targets share their rules: each pattern is analysed once
def backtracking_risk(source: str, flags: int = 0) -> str | None:
    """Why `source` can backtrack catastrophically (exponential time on some text), or None.

    A static check, run by `validate` (and so by every run): a quantified group whose body
    can match text of different lengths, with no character that every repetition must match
    and the variable parts cannot (`(a+)+`, `(\\w+\\s?)+`, `(.*)*`, `(a|aa)*`), or whose
    alternatives can start alike (`(a|a)*`). Atomic groups and possessive quantifiers
    never backtrack and pass. Polynomial patterns (`.*a.*b`) pass: their cost on a
    paragraph is bounded."""
    try:
        parsed = _sre.parse(source, flags)
    except re.error:
        return None
    return _Analysis(flags).risk(parsed)


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
