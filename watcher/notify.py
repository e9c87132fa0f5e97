"""Alerts through apprise: readable on every channel, never lost, never sent twice.

* Destinations come from APPRISE_URLS (whitespace or comma separated) and, optionally, an
  apprise YAML config file with tags. Untagged URLs receive every alert; a tagged URL
  receives the alerts that a route in targets.yaml (`alerts.routes`) gives its tag.
* Email gets an HTML word diff; every other service gets a short text: the categories,
  the two or three most important changed sentences, and links. A body longer than the
  service accepts is trimmed at a line or word boundary, with a note and a link to the rest.
* Each alert waits in the committed outbox (state.py) and records, per destination, that it
  was delivered; what failed is sent on the next run, to the destinations that missed it.
* URLs are secrets: only apprise's privacy form (`url(privacy=True)`) is ever shown.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import secrets
from .classify import Event, plain
from .diff import Change
from .feed import repository_url
from .models import AlertSettings, Region, Result, Target
from .render import render_html, render_text
from .report import CATEGORY_LABELS, change_summary

log = logging.getLogger("watcher")

ALERT_TTL = timedelta(days=7)  # an alert nobody could receive for a week is dropped, logged
TOP_SENTENCES = 3
EMAIL_MAXLEN = 512_000


def _labels(categories: list[str]) -> str:
    return ", ".join(CATEGORY_LABELS.get(c, c) for c in categories if c != "other") or "other"


def commit_link(sha: str | None) -> str | None:
    repo = repository_url()
    if not sha:
        return None
    return f"{repo}/commit/{sha}" if repo else None


_AI_TERMS = re.compile(r"\bAIs?\b|artificial intelligence|generative|\btrain", re.I)


def _rank(change: Change, alerting: tuple[str, ...]) -> float:
    """Most important first: alerting categories, AI named in the sentence itself, new
    wording over edits and removals (sorted() keeps document order among equals)."""
    score = len([c for c in change.categories if c in alerting])
    score += 1 if _AI_TERMS.search(plain(change.text)) else 0
    score += {"added": 0.5, "modified": 0.25}.get(change.kind, 0)
    return -score


def top_sentences(
    changes: list[Change], alerting: tuple[str, ...], n: int = TOP_SENTENCES
) -> list[str]:
    body, seen = [], set()
    for c in changes:  # each wording once: a row repeated across legal bases says it once
        key = plain(c.text)
        if not (c.old or c.new or "").startswith("# ") and key not in seen:
            seen.add(key)
            body.append(c)
    ranked = sorted(body, key=lambda c: _rank(c, alerting))[:n]
    out = []
    for c in ranked:
        if c.kind == "modified":  # what changed, marked in place: [-old words-]{+new words+}
            out.append(render_text([c], []).splitlines()[-1])
        else:
            sign = "+" if c.kind == "added" else "−"
            out.append(f"{sign} {plain(c.new if c.new is not None else c.old or '')}")
    return out


def routes_for(
    settings: AlertSettings, target: str, region: str, categories: list[str], kind: str
) -> list[str]:
    tags = []
    for route in settings.routes:
        if route["targets"] and target not in route["targets"]:
            continue
        if route["regions"] and region not in route["regions"]:
            continue
        if (
            kind == "change"
            and route["categories"]
            and not set(route["categories"]) & set(categories)
        ):
            continue
        if kind != "change" and not route["failures"]:
            continue
        tags.append(route["tag"])
    return sorted(set(tags))


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def change_alert(
    result: Result,
    changes: list[Change],
    events: list[Event],
    target: Target,
    region: Region,
    settings: AlertSettings,
    snapshot_sha: str,
) -> dict[str, Any]:
    """The outbox entry for a recorded change (its commit is resolved when it is sent)."""
    title = f"{target.name} ({region.name}): {change_summary(result.categories)}"
    sections = sorted({plain(c.section) for c in changes if c.section})
    lines = [f"Categories: {_labels(result.categories)}"]
    lines += [f"• {e.text}" for e in events[:2]]
    lines += top_sentences(changes, settings.categories)
    removed = sum(1 for c in changes if c.kind == "removed")
    added = sum(1 for c in changes if c.kind == "added")
    modified = sum(1 for c in changes if c.kind == "modified")
    lines.append(f"({modified} modified, {added} added, {removed} removed sentences)")
    html = (
        f"<p><strong>Categories:</strong> {_esc(_labels(result.categories))}<br>"
        f"<strong>Sections:</strong> {_esc('; '.join(sections[:6]) or '-')}</p>"
        + render_html(changes, events)
    )
    return {
        "id": f"change:{target.id}:{region.code}:{snapshot_sha[:16]}",
        "kind": "change",
        "target": target.id,
        "region": region.code,
        "title": title,
        "categories": list(result.categories),
        "text": "\n".join(lines),
        "html": html,
        "source_url": target.url,
        "commit": None,
        "tags": routes_for(settings, target.id, region.code, result.categories, "change"),
        "created_at": now_iso(),
        "delivered": [],
        "attempts": 0,
    }


def failure_alert(
    target: Target, region: Region, runs: int, reason: str, status: str, settings: AlertSettings
) -> dict[str, Any]:
    title = f"{target.name} ({region.name}): failing for {runs} runs ({status})"
    text = (
        f"watcher could not check this page {runs} runs in a row.\nReason: {reason}\n"
        "Its last good snapshot is kept; you will get one message when it works again."
    )
    return _simple(
        f"failure:{target.id}:{region.code}:{now_iso()}",
        "failure",
        target,
        region,
        title,
        text,
        settings,
    )


def recovery_alert(target: Target, region: Region, settings: AlertSettings) -> dict[str, Any]:
    title = f"{target.name} ({region.name}): working again"
    text = "watcher can check this page again; changes will be reported as usual."
    return _simple(
        f"recovery:{target.id}:{region.code}:{now_iso()}",
        "recovery",
        target,
        region,
        title,
        text,
        settings,
    )


def _simple(
    alert_id: str,
    kind: str,
    target: Target,
    region: Region,
    title: str,
    text: str,
    settings: AlertSettings,
) -> dict[str, Any]:
    return {
        "id": alert_id,
        "kind": kind,
        "target": target.id,
        "region": region.code,
        "title": title,
        "categories": [],
        "text": text,
        "html": "<p>" + _esc(text).replace("\n", "<br>") + "</p>",
        "source_url": target.url,
        "commit": None,
        "tags": routes_for(settings, target.id, region.code, [], kind),
        "created_at": now_iso(),
        "delivered": [],
        "attempts": 0,
    }


def _esc(text: str) -> str:
    import html

    return html.escape(text)


# -- destinations -------------------------------------------------------------------------


@dataclass
class Destination:
    key: str  # stable, secret-free id of the URL (a hash), recorded in the outbox
    server: Any
    masked: str
    tags: set[str]
    email: bool
    body_maxlen: int
    title_maxlen: int

    def wants(self, alert: dict[str, Any]) -> bool:
        return not self.tags or bool(self.tags & set(alert.get("tags", [])))


def apprise_urls() -> list[str]:
    raw = os.environ.get("APPRISE_URLS", "")
    urls = [u.strip() for u in re.split(r"[\s,]+", raw) if u.strip()]
    for url in urls:
        secrets.register(url)
    return urls


def destinations(settings: AlertSettings, urls: list[str] | None = None) -> list[Destination]:
    """Every configured notification target, with its limits and tags."""
    import apprise

    urls = apprise_urls() if urls is None else urls
    for url in urls:
        secrets.register(url)
    obj = apprise.Apprise()
    for url in urls:
        if not obj.add(url):
            log.warning(
                "ignoring an APPRISE_URLS entry apprise cannot read: %s", secrets.mask_url(url)
            )
    if settings.config_file:
        conf = apprise.AppriseConfig()
        if conf.add(settings.config_file):
            obj.add(conf)
        else:
            log.warning("cannot read apprise config file %s", settings.config_file)
    out = []
    for server in obj:
        raw = server.url(privacy=False)
        secrets.register(raw)
        scheme = raw.split(":", 1)[0].lower()
        out.append(
            Destination(
                key=hashlib.sha256(raw.encode()).hexdigest()[:16],
                server=server,
                masked=server.url(privacy=True).split("?", 1)[0],
                tags=set(getattr(server, "tags", set()) or set()),
                email=scheme in ("mailto", "mailtos"),
                # apprise's nominal 32 KB for email is no limit of email's own; a long word
                # diff should arrive whole there
                body_maxlen=EMAIL_MAXLEN
                if scheme in ("mailto", "mailtos")
                else int(getattr(server, "body_maxlen", 0) or 32768),
                title_maxlen=int(getattr(server, "title_maxlen", 0) or 0),
            )
        )
    return out


def fit(text: str, limit: int, more: str) -> str:
    """Trim to `limit` characters at a line (or word) boundary, ending with a note."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(more) - 2)
    cut = text.rfind("\n", 0, room)
    if cut < room // 2:
        cut = text.rfind(" ", 0, room)
    if cut <= 0:
        cut = room
    return text[:cut].rstrip() + "\n" + more


@dataclass
class Delivery:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (alert title, masked url)
    failed: list[tuple[str, str]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": len(self.sent),
            "failed": len(self.failed),
            "expired": len(self.expired),
            "failed_to": sorted({m for _, m in self.failed}),
        }


def _links(alert: dict[str, Any]) -> list[str]:
    links = [f"Source: {alert['source_url']}"]
    commit = commit_link(alert.get("commit"))
    if commit:
        links.append(f"Commit: {commit}")
    elif alert.get("commit"):
        links.append(f"Commit: {alert['commit'][:12]}")
    return links


def _message(alerts: list[dict[str, Any]], dest: Destination) -> tuple[str, str, str]:
    """(title, body, format) for one destination: a digest when several alerts are due."""
    if len(alerts) == 1:
        title = alerts[0]["title"]
    else:
        regions = sorted({a["region"].upper() for a in alerts})
        title = (
            f"watcher: {len(alerts)} alerts on Meta's AI-training wording ({', '.join(regions)})"
        )
    if dest.title_maxlen and len(title) > dest.title_maxlen:
        title = fit(title, dest.title_maxlen, "…").replace("\n", " ")
    more_link = repository_url() or (alerts[0]["source_url"] if alerts else "")
    if dest.email:
        parts = []
        for a in alerts:
            links = "".join(
                f'<a href="{_esc(u)}">{_esc(label)}</a> '
                for label, u in (
                    ("source page", a["source_url"]),
                    ("commit", commit_link(a.get("commit"))),
                )
                if u
            )
            parts.append(
                f'<h2 style="font-size:17px">{_esc(a["title"])}</h2>{a["html"]}<p>{links}</p>'
            )
        body = "\n<hr>\n".join(parts)
        if len(body) > dest.body_maxlen:
            # never cut HTML mid-tag: fall back to the text form, trimmed with a link
            return title, _text_body(alerts, dest.body_maxlen, more_link), "text"
        return title, body, "html"
    return title, _text_body(alerts, dest.body_maxlen, more_link), "text"


def _text_body(alerts: list[dict[str, Any]], limit: int, more_link: str) -> str:
    blocks = []
    for a in alerts:
        head = [a["title"]] if len(alerts) > 1 else []
        blocks.append("\n".join([*head, a["text"], *_links(a)]))
    body = "\n\n".join(blocks)
    note = f"… trimmed to fit; read the rest: {more_link}"
    return fit(body, limit, note)


def deliver(
    outbox: list[dict[str, Any]],
    dests: list[Destination],
    settings: AlertSettings,
    now: datetime | None = None,
) -> Delivery:
    """Send every pending alert to the destinations that have not had it yet.

    Marks delivery in the outbox entries (the caller saves and commits the state) and removes
    entries every wanting destination has received.
    """
    report = Delivery()
    now = now or datetime.now(UTC)
    for alert in list(outbox):
        created = datetime.fromisoformat(alert["created_at"].replace("Z", "+00:00"))
        if now - created > ALERT_TTL:
            log.warning(
                "dropping an alert nobody could receive for %s days: %s",
                ALERT_TTL.days,
                alert["title"],
            )
            report.expired.append(alert["title"])
            outbox.remove(alert)
    for dest in dests:
        due = [a for a in outbox if dest.wants(a) and dest.key not in a["delivered"]]
        if not due:
            continue
        groups = [due] if settings.mode == "digest" else [[a] for a in due]
        for group in groups:
            title, body, fmt = _message(group, dest)
            ok = _send(dest, title, body, fmt)
            for a in group:
                a["attempts"] = a.get("attempts", 0) + 1
                if ok:
                    a["delivered"].append(dest.key)
                    report.sent.append((a["title"], dest.masked))
                else:
                    report.failed.append((a["title"], dest.masked))
    for alert in list(outbox):
        wanting = [d.key for d in dests if d.wants(alert)]
        if wanting and all(k in alert["delivered"] for k in wanting):
            outbox.remove(alert)
    return report


def _send(dest: Destination, title: str, body: str, fmt: str) -> bool:
    import apprise

    body_format = apprise.NotifyFormat.HTML if fmt == "html" else apprise.NotifyFormat.TEXT
    # Through an Apprise object, not the plugin directly: it converts the body to what each
    # service speaks (HTML for email, escaped text for chat).
    single = apprise.Apprise()
    single.add(dest.server)
    try:
        ok = bool(single.notify(body=body, title=title, body_format=body_format))
    except Exception as exc:  # a plugin bug must not lose the other destinations
        log.warning("sending to %s raised %s", dest.masked, type(exc).__name__)
        ok = False
    if not ok:
        log.warning("could not send an alert to %s; it stays in the outbox", dest.masked)
    return ok


def send_test(settings: AlertSettings) -> list[tuple[str, bool]]:
    """Send a test message to every destination; (masked URL, delivered) for each."""
    out = []
    for dest in destinations(settings):
        title = "watcher: test alert"
        body = (
            "This is a test from watcher. Alerts about changes to what Meta's privacy "
            "pages say about AI training will arrive here."
        )
        if dest.email:
            body = f"<p>{_esc(body)}</p>"
        out.append((dest.masked, _send(dest, title, body, "html" if dest.email else "text")))
    return out
