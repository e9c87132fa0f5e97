"""Compose alerts: pure functions from a recorded change (or a failure streak) to the
typed `Alert` that waits in the outbox, and from alerts to the words one channel gets.

* Every channel tells the change's story (story.py) as the commit does: the one-line
  summary, the counts, the commit link at the top, the most important changes first.
* Email gets an HTML word diff and, as its text part, watcher's own plain text with the
  `+`/`-`/`~` markers; every other channel gets the short text: the summary, the counts,
  the links and the most important changes. A body longer than the channel accepts is
  trimmed at a line or word boundary, with a note and a link to the rest.
* A digest is ordered by importance, and an email digest opens with its list of changes.
* Nothing here reads the environment or the clock: both are passed in.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from datetime import datetime

from .classify import Event
from .diff import Change
from .env import GitHubContext
from .evidence.commits import change_summary
from .models import (
    Alert,
    AlertKind,
    AlertSettings,
    Category,
    Region,
    Result,
    Streak,
    Target,
    category_labels,
)
from .render import story_html, text_line
from .story import tell

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


def top_sentences(
    changes: list[Change], alerting: tuple[str, ...], n: int = TOP_SENTENCES
) -> list[str]:
    """The most important changes, marked as in every channel (`+`, `-`, `~`)."""
    story = tell(changes, [], alerting)
    return [text_line(c, place=True) for c in story.top[:n]]


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
    story = tell(changes, events, settings.categories)
    lines = [f"Categories: {_labels(result.categories)}", story.summary, story.counts.line()]
    shown = [e for e in story.events if e.categories][:2]
    lines += [f"• {e.text}" for e in shown]
    lines += [text_line(c, place=True) for c in story.top[:TOP_SENTENCES]]
    body = (
        f'<p style="margin:0 0 6px"><strong>Categories:</strong> '
        f"{_esc(_labels(result.categories))}</p>" + story_html(story)
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
        summary=story.summary,
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
    if _GUARD.search(streak.reason):
        # the page is refused against its recorded size: say so plainly, it may be stuck
        text += (
            "\nEvery capture is being refused against the page's usual size. If the page "
            "really changed size, watcher takes the new size after consistent captures "
            "(when one run sees them); until then no change of this page is reported. "
            f"Look at what is served now: watcher check {target.id} --region {region.code}"
        )
    return _simple(AlertKind.FAILURE, target, region, title, text, settings, now)


_GUARD = re.compile(r"\bpage (?:collapsed|grew)\b|\bextraction shrank\b")


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
    commit = github.commit_url(alert.commit)
    links = []
    if commit:
        links.append(f"Commit: {commit}")
    elif alert.commit:
        links.append(f"Commit: {alert.commit[:12]}")
    links.append(f"Source: {alert.source_url}")
    return links


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    html: bool  # the body is HTML (email); else plain text
    text: str = ""  # for email: watcher's own plain-text part, with the +/-/~ markers


_WEIGHT = {Category.OPT_OUT: 3.0, Category.EXEMPTIONS: 2.0, Category.DATA_SOURCES: 1.0}


def importance(alert: Alert) -> float:
    """A digest's order: changes before failures; among changes, what they touch (opt-out,
    then exemptions, then data sources), then how many of the three."""
    if alert.kind != AlertKind.CHANGE:
        return -1.0 if alert.kind == AlertKind.FAILURE else -2.0
    return sum(_WEIGHT.get(Category(c), 0.0) for c in alert.categories if c in _WEIGHT)


def ordered(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: -importance(a))  # stable: the order they came in


def compose(alerts: list[Alert], channel: Channel, github: GitHubContext) -> Message:
    """The message one channel gets: a digest when several alerts are due, most important
    first."""
    alerts = ordered(alerts)
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
    text = text_body(alerts, channel.body_maxlen, more_link, github)
    if channel.email:
        parts = []
        if len(alerts) > 1:  # what the digest holds, before the details
            items = "".join(
                f'<li><a href="#alert-{n}">{_esc(a.title)}</a>'
                + (f'<br><span style="color:#57606a">{_esc(a.summary)}</span>' if a.summary else "")
                + "</li>"
                for n, a in enumerate(alerts, start=1)
            )
            parts.append(f'<ol style="padding-left:20px">{items}</ol>')
        for n, a in enumerate(alerts, start=1):
            links = " · ".join(
                f'<a href="{_esc(u)}">{_esc(label)}</a>'
                for label, u in (
                    ("commit", github.commit_url(a.commit)),
                    ("source page", a.source_url),
                )
                if u
            )
            parts.append(
                f'<h2 id="alert-{n}" style="font-size:17px;margin:18px 0 6px">{_esc(a.title)}</h2>'
                f'<p style="margin:0 0 8px">{links}</p>{a.html}'
            )
        body = "\n<hr>\n".join(parts)
        if len(body) > channel.body_maxlen:
            # never cut HTML mid-tag: fall back to the text form, trimmed with a link
            return Message(title, text, False)
        return Message(title, body, True, text)
    return Message(title, text, False)


def text_body(alerts: list[Alert], limit: int, more_link: str, github: GitHubContext) -> str:
    """The plain text of alerts: for each, its title, the commit link first, its text."""
    blocks = []
    for a in ordered(alerts):
        head = [a.title] if len(alerts) > 1 else []
        blocks.append("\n".join([*head, *_links(a, github), a.text]))
    body = "\n\n".join(blocks)
    note = f"… trimmed to fit; read the rest: {more_link}"
    return fit(body, limit, note)
