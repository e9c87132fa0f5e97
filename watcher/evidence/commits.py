"""The commit vocabulary: what a commit of the evidence says, written and parsed here only.

A recorded change is one commit. Its subject says what happened in words a journalist can
quote; its body tells the change's story as every other channel does (see story.py: the
one-line summary, the counts, the most important changes, the rest by section); its
trailers say which page, region and categories, so `history` (and anyone with `git log`)
can read the record back without guessing:

    First record of Meta Privacy Policy (EU)
    Meta Privacy Policy (EU): opt-out, data sources wording changed
    Apply extraction upgrade to Meta Privacy Policy (EU)

    Source-URL: https://…
    Watcher-Target: facebook-privacy-policy
    Watcher-Region: eu
    Watcher-Categories: data_sources, opt_out
    Watcher-Kind: change            (first | change | upgrade)
    Watcher-Version: 0.2.0
    Watcher-Snapshot: 3f2a…         (the recorded text's fingerprint: the feed links to it)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .. import __version__
from ..classify import Event, plain
from ..diff import Change
from ..models import Category, ChangeKind, Region, Result, Status, Target, category_labels
from ..render import text_line
from ..secrets import redact
from ..story import Story, counts_of, tell

MAX_BODY_LINES = 200


class RecordKind(StrEnum):
    FIRST = "first"  # the first record of a (target, region)
    CHANGE = "change"  # Meta changed the wording
    UPGRADE = "upgrade"  # watcher's rules or code changed the snapshot; Meta changed nothing


class Trailer(StrEnum):
    SOURCE_URL = "Source-URL"
    TARGET = "Watcher-Target"
    REGION = "Watcher-Region"
    CATEGORIES = "Watcher-Categories"
    KIND = "Watcher-Kind"
    VERSION = "Watcher-Version"
    # an imported version: which archive recorded it, in which of its commits, and when
    ARCHIVE = "Archive"
    ARCHIVE_COMMIT = "Archive-Commit"
    ARCHIVE_SOURCE_COMMIT = "Archive-Source-Commit"
    CAPTURED_AT = "Captured-At"
    SNAPSHOT = "Watcher-Snapshot"
    STORY = "Watcher-Story"  # the one-line summary and the counts, for `watcher history`


TRAILERS = tuple(Trailer)


def change_summary(categories: list[str]) -> str:
    """`opt-out, data sources wording changed`: the alerting categories, in words."""
    alerting = category_labels(categories, other=False)
    if not alerting:
        return "AI-training wording changed"
    return f"{', '.join(alerting)} wording changed"


def commit_subject(kind: RecordKind, title: str, categories: list[str]) -> str:
    if kind == RecordKind.FIRST:
        return f"First record of {title}"
    if kind == RecordKind.UPGRADE:
        return f"Apply extraction upgrade to {title}"
    return f"{title}: {change_summary(categories)}"


def change_counts(changes: list[Change]) -> dict[ChangeKind, int]:
    """Changes by kind, counted as every channel counts them (see story.counts_of)."""
    n = counts_of(changes)
    return {
        ChangeKind.MODIFIED: n.modified,
        ChangeKind.ADDED: n.added,
        ChangeKind.REMOVED: n.removed,
    }


def counts_line(changes: list[Change]) -> str:
    return counts_of(changes).line()


def snapshot_trailer(sha256: str) -> str:
    """The trailer naming the recorded text (its fingerprint's first 16 hex digits): a
    search for it finds the commit, before its hash is known (see feed.change_link)."""
    return f"{Trailer.SNAPSHOT}: {sha256[:16]}"


def story_lines(story: Story, limit: int = MAX_BODY_LINES) -> list[str]:
    """The body of a change's commit: the story, as every channel tells it."""
    lines = [story.summary, story.counts.line()]
    if story.events:
        lines += [""] + [
            f"* {e.text}"
            + (f" ({', '.join(category_labels(e.categories))})" if e.categories else "")
            for e in story.events
        ]
    if story.top:
        lines += ["", "Most important:"] + [
            text_line(c, tags=True, place=True, raw=True) for c in story.top
        ]
    shown = len(story.top)
    if story.rest:
        lines += ["", "Also changed, by section:"]
        for section, group in story.rest:
            lines.append(f"In {plain(section) or 'the top of the page'}:")
            for change in group:
                if shown >= limit:
                    left = story.counts.changes - shown
                    lines.append(f"… and {left} more (see the diff of this commit)")
                    return lines
                lines.append(text_line(change, tags=True, place=change.count > 1, raw=True))
                shown += 1
    return lines


def change_lines(changes: list[Change], limit: int = MAX_BODY_LINES) -> list[str]:
    """Changed sentences grouped by section, marked `+ added`, `- removed`, `~ modified`."""
    lines: list[str] = []
    section = None
    shown = [c for c in changes if not c.heading or c.kind == ChangeKind.MODIFIED]
    for n, change in enumerate(shown):
        if n >= limit:
            lines.append(f"… and {len(shown) - n} more changes (see the diff of this commit)")
            break
        if plain(change.section) != section:
            section = plain(change.section)
            if lines:
                lines.append("")
            lines.append(f"In {section or 'the top of the page'}:")
        lines.append(text_line(change, tags=True, place=change.count > 1, raw=True))
    return lines


def record_title(target: Target, region: Region) -> str:
    return f"{target.name} ({region.name})"


def trailers(target: Target, region: Region, kind: RecordKind, categories: list[str]) -> list[str]:
    lines = [
        f"{Trailer.SOURCE_URL}: {target.url}",
        f"{Trailer.TARGET}: {target.id}",
        f"{Trailer.REGION}: {region.code}",
    ]
    if categories:
        lines.append(f"{Trailer.CATEGORIES}: {', '.join(categories)}")
    lines.append(f"{Trailer.KIND}: {kind}")
    lines.append(f"{Trailer.VERSION}: {__version__}")
    return lines


def commit_message(
    result: Result,
    changes: list[Change],
    target: Target,
    region: Region,
    *,
    note: str = "",
    extra: list[str] | None = None,
    events: list[Event] | None = None,
) -> str:
    """The message of a recorded change or first record. `note` is a paragraph after the
    story (where an imported version came from); `extra` are more trailer lines; `events`
    the classification's events (else the result's event texts are told)."""
    kind = RecordKind.FIRST if result.status == Status.NEW else RecordKind.CHANGE
    lines = [commit_subject(kind, record_title(target, region), result.categories), ""]
    told: list[str] = []
    if kind == RecordKind.FIRST:
        lines.append(f"{result.sentences} sentences on AI training, from {target.url}.")
    else:
        story = tell(
            changes, events if events is not None else [Event("", t) for t in result.events]
        )
        lines += story_lines(story)
        told = [f"{Trailer.STORY}: {story.summary} — {story.counts.line()}"]
    if note:
        lines += ["", note]
    lines += ["", *trailers(target, region, kind, result.categories), *told, *(extra or [])]
    return redact("\n".join(lines) + "\n")


def upgrade_message(
    target: Target,
    region: Region,
    changes: list[Change],
    why: str,
    *,
    extra: list[str] | None = None,
) -> str:
    """An upgrade commit: a capture extracted again with other rules, by watcher or by the
    archive a version came from. Not a change of Meta's wording: never alerted."""
    lines = [
        commit_subject(RecordKind.UPGRADE, record_title(target, region), []),
        "",
        f"The capture was extracted again because {why}.",
        "This is a change of the extraction, not of Meta's wording: no alert.",
        "",
        counts_line(changes),
        "",
        *change_lines(changes),
        "",
        *trailers(target, region, RecordKind.UPGRADE, []),
        *(extra or []),
    ]
    return redact("\n".join(lines) + "\n")


def archive_trailers(archive: str, commit: str, source_commit: str, captured_at: str) -> list[str]:
    lines = [f"{Trailer.ARCHIVE}: {archive}", f"{Trailer.ARCHIVE_COMMIT}: {commit}"]
    if source_commit:
        lines.append(f"{Trailer.ARCHIVE_SOURCE_COMMIT}: {source_commit}")
    lines.append(f"{Trailer.CAPTURED_AT}: {captured_at}")
    return lines


@dataclass(frozen=True)
class CommitInfo:
    """What a commit of the evidence says about itself, read back from its trailers."""

    target: str
    region: str
    kind: RecordKind
    categories: list[str] = field(default_factory=list)
    source_url: str = ""
    archive: str = ""
    archive_commit: str = ""
    captured_at: str = ""
    story: str = ""  # the one-line summary and the counts (changes recorded since 0.3)

    @property
    def alerting_categories(self) -> list[str]:
        return [c for c in self.categories if c != Category.OTHER]


def parse_trailers(values: dict[str, str], subject: str) -> CommitInfo | None:
    """A `CommitInfo` from trailer values (as `git log` prints them), or None when the commit
    is not one of watcher's records. Records made before `Watcher-Kind` existed are read from
    their subject."""
    target = values.get(Trailer.TARGET, "").strip()
    region = values.get(Trailer.REGION, "").strip()
    if not target or not region:
        return None
    raw_kind = values.get(Trailer.KIND, "").strip()
    if raw_kind in tuple(RecordKind):
        kind = RecordKind(raw_kind)
    elif subject.startswith("First record of "):
        kind = RecordKind.FIRST
    elif subject.startswith("Apply extraction upgrade to "):
        kind = RecordKind.UPGRADE
    else:
        kind = RecordKind.CHANGE
    categories = [c.strip() for c in values.get(Trailer.CATEGORIES, "").split(",") if c.strip()]
    return CommitInfo(
        target,
        region,
        kind,
        categories,
        values.get(Trailer.SOURCE_URL, "").strip(),
        values.get(Trailer.ARCHIVE, "").strip(),
        values.get(Trailer.ARCHIVE_COMMIT, "").strip(),
        values.get(Trailer.CAPTURED_AT, "").strip(),
        values.get(Trailer.STORY, "").strip(),
    )
