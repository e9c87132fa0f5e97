"""Compose alerts: pure functions from a recorded change (or a failure streak) to the
typed `Alert` that waits in the outbox, and from alerts to the words one channel gets.

* Email gets an HTML word diff; every other channel gets a short text: the categories,
  the two or three most important changed sentences, and links. A body longer than the
  channel accepts is trimmed at a line or word boundary, with a note and a link to the rest.
* Nothing here reads the environment or the clock: both are passed in.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from datetime import datetime

from .classify import Event, plain
from .diff import Change
from .env import GitHubContext
from .evidence.commits import change_counts, change_summary
from .models import (
    Alert,
    AlertKind,
    AlertSettings,
    ChangeKind,
    Region,
    Result,
    Streak,
    Target,
    category_labels,
)
from .render import render_html, render_text

TOP_SENTENCES = 3


@dataclass(frozen=True)
class Channel:
    """What a destination accepts: HTML (email) or text, and its length limits."""

    email: bool
    body_maxlen: int
    title_maxlen: int = 0


def iso(now: datetime) -> str:
    return now.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _labels(categories: list[str]) -> str:
    return ", ".join(category_labels(categories, other=False)) or "other"


def _esc(text: str) -> str:
    return _html.escape(text)


_AI_TERMS = re.compile(r"\bAIs?\b|artificial intelligence|generative|\btrain", re.I)


def _rank(change: Change, alerting: tuple[str, ...]) -> float:
    """Most important first: alerting categories, AI named in the sentence itself, new
    wording over edits and removals (sorted() keeps document order among equals)."""
    score = float(len([c for c in change.categories if c in alerting]))
    score += 1 if _AI_TERMS.search(plain(change.text)) else 0
    score += {"added": 0.5, "modified": 0.25}.get(change.kind, 0)
    return -score


def top_sentences(
    changes: list[Change], alerting: tuple[str, ...], n: int = TOP_SENTENCES
) -> list[str]:
    body, seen = [], set()
    for c in changes:  # each wording once: a row repeated across legal bases says it once
        key = plain(c.text)
        if not c.heading and key not in seen:
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
    settings: AlertSettings, target: str, region: str, categories: list[str], kind: AlertKind
) -> list[str]:
    return sorted({r.tag for r in settings.routes if r.wants(target, region, categories, kind)})


def change_alert(
    result: Result,
    changes: list[Change],
    events: list[Event],
    target: Target,
    region: Region,
    settings: AlertSettings,
    snapshot_sha: str,
    now: datetime,
) -> Alert:
    """The outbox entry for a recorded change (its commit is resolved when it is sent).

    Its id names the text and the moment it was recorded, so the same wording recorded
    again later (A→B→A→B) is a new alert with its own commit."""
    created = iso(now)
    title = f"{target.name} ({region.name}): {change_summary(result.categories)}"
    sections = sorted({plain(c.section) for c in changes if c.section})
    lines = [f"Categories: {_labels(result.categories)}"]
    lines += [f"• {e.text}" for e in events[:2]]
    lines += top_sentences(changes, settings.categories)
    n = change_counts(changes)
    lines.append(
        f"({n[ChangeKind.MODIFIED]} modified, {n[ChangeKind.ADDED]} added, "
        f"{n[ChangeKind.REMOVED]} removed sentences)"
    )
    body = (
        f"<p><strong>Categories:</strong> {_esc(_labels(result.categories))}<br>"
        f"<strong>Sections:</strong> {_esc('; '.join(sections[:6]) or '-')}</p>"
        + render_html(changes, events)
    )
    return Alert(
        id=f"change:{target.id}:{region.code}:{snapshot_sha[:16]}:{created}",
        kind=AlertKind.CHANGE,
        target=target.id,
        region=region.code,
        title=title,
        categories=list(result.categories),
        text="\n".join(lines),
        html=body,
        source_url=target.url,
        tags=routes_for(settings, target.id, region.code, result.categories, AlertKind.CHANGE),
        created_at=created,
    )


def failure_alert(
    target: Target, region: Region, streak: Streak, settings: AlertSettings, now: datetime
) -> Alert:
    runs = streak.count
    title = f"{target.name} ({region.name}): failing for {runs} runs ({streak.status})"
    text = (
        f"watcher could not check this page {runs} runs in a row.\nReason: {streak.reason}\n"
        "Its last good snapshot is kept; you will get one message when it works again."
    )
    return _simple(AlertKind.FAILURE, target, region, title, text, settings, now)


def recovery_alert(target: Target, region: Region, settings: AlertSettings, now: datetime) -> Alert:
    title = f"{target.name} ({region.name}): working again"
    text = "watcher can check this page again; changes will be reported as usual."
    return _simple(AlertKind.RECOVERY, target, region, title, text, settings, now)


def _simple(
    kind: AlertKind,
    target: Target,
    region: Region,
    title: str,
    text: str,
    settings: AlertSettings,
    now: datetime,
) -> Alert:
    created = iso(now)
    return Alert(
        id=f"{kind}:{target.id}:{region.code}:{created}",
        kind=kind,
        target=target.id,
        region=region.code,
        title=title,
        text=text,
        html="<p>" + _esc(text).replace("\n", "<br>") + "</p>",
        source_url=target.url,
        tags=routes_for(settings, target.id, region.code, [], kind),
        created_at=created,
    )


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


def _links(alert: Alert, github: GitHubContext) -> list[str]:
    links = [f"Source: {alert.source_url}"]
    commit = github.commit_url(alert.commit)
    if commit:
        links.append(f"Commit: {commit}")
    elif alert.commit:
        links.append(f"Commit: {alert.commit[:12]}")
    return links


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    html: bool  # the body is HTML (email); else plain text


def compose(alerts: list[Alert], channel: Channel, github: GitHubContext) -> Message:
    """The message one channel gets: a digest when several alerts are due."""
    if len(alerts) == 1:
        title = alerts[0].title
    else:
        regions = sorted({a.region.upper() for a in alerts})
        title = (
            f"watcher: {len(alerts)} alerts on Meta's AI-training wording ({', '.join(regions)})"
        )
    if channel.title_maxlen and len(title) > channel.title_maxlen:
        title = fit(title, channel.title_maxlen, "…").replace("\n", " ")
    more_link = github.repository_url or (alerts[0].source_url if alerts else "")
    if channel.email:
        parts = []
        for a in alerts:
            links = "".join(
                f'<a href="{_esc(u)}">{_esc(label)}</a> '
                for label, u in (
                    ("source page", a.source_url),
                    ("commit", github.commit_url(a.commit)),
                )
                if u
            )
            parts.append(f'<h2 style="font-size:17px">{_esc(a.title)}</h2>{a.html}<p>{links}</p>')
        body = "\n<hr>\n".join(parts)
        if len(body) > channel.body_maxlen:
            # never cut HTML mid-tag: fall back to the text form, trimmed with a link
            return Message(title, text_body(alerts, channel.body_maxlen, more_link, github), False)
        return Message(title, body, True)
    return Message(title, text_body(alerts, channel.body_maxlen, more_link, github), False)


def text_body(alerts: list[Alert], limit: int, more_link: str, github: GitHubContext) -> str:
    blocks = []
    for a in alerts:
        head = [a.title] if len(alerts) > 1 else []
        blocks.append("\n".join([*head, a.text, *_links(a, github)]))
    body = "\n\n".join(blocks)
    note = f"… trimmed to fit; read the rest: {more_link}"
    return fit(body, limit, note)
