"""What a run tells people: commit messages, the `--json` object and a text summary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import __version__
from .classify import plain
from .diff import Change
from .models import Region, Result, Target
from .secrets import redact

if TYPE_CHECKING:
    from .pipeline import RunReport

MAX_BODY_LINES = 200
CATEGORY_LABELS = {
    "data_sources": "data sources",
    "exemptions": "exemptions",
    "opt_out": "opt-out",
    "other": "other",
}


def change_summary(categories: list[str]) -> str:
    alerting = [CATEGORY_LABELS[c] for c in categories if c != "other"]
    if not alerting:
        return "AI-training wording changed"
    return f"{', '.join(alerting)} wording changed"


def commit_subject(result: Result, region: Region) -> str:
    title = f"{result.name} ({region.name})"
    if result.status == "new":
        return f"First record of {title}"
    return f"{title}: {change_summary(result.categories)}"


def change_lines(changes: list[Change], limit: int = MAX_BODY_LINES) -> list[str]:
    """Changed sentences grouped by section: `- removed`, `+ added`."""
    lines: list[str] = []
    section = None
    for shown, change in enumerate(changes):
        if shown >= limit:
            lines.append(
                f"… and {len(changes) - shown} more changed sentences (see the diff of this commit)"
            )
            break
        if plain(change.section) != section:
            section = plain(change.section)
            if lines:
                lines.append("")
            lines.append(f"In {section or 'the top of the page'}:")
        tags = f"  [{', '.join(change.categories)}]" if change.categories else ""
        if change.old is not None:
            lines.append(f"- {change.old}")
        if change.new is not None:
            lines.append(f"+ {change.new}{tags}")
    return lines


def commit_message(result: Result, changes: list[Change], target: Target, region: Region) -> str:
    lines = [commit_subject(result, region), ""]
    if result.status == "new":
        lines.append(f"{result.sentences} sentences on AI training, from {target.url}.")
    else:
        removed = sum(1 for c in changes if c.kind == "removed")
        added = sum(1 for c in changes if c.kind == "added")
        modified = sum(1 for c in changes if c.kind == "modified")
        lines.append(f"{modified} sentences modified, {added} added, {removed} removed.")
        if result.events:
            lines += [""] + [f"* {e}" for e in result.events]
        lines += ["", *change_lines(changes)]
    lines += [
        "",
        f"Source-URL: {target.url}",
        f"Watcher-Target: {target.id}",
        f"Watcher-Region: {region.code}",
    ]
    if result.categories:
        lines.append(f"Watcher-Categories: {', '.join(result.categories)}")
    lines.append(f"Watcher-Version: {__version__}")
    return redact("\n".join(lines) + "\n")


def to_json(report: RunReport) -> str:
    return redact(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))


def text_summary(report: RunReport) -> str:
    lines = []
    for r in report.results:
        extra = ""
        if r.status == "new":
            extra = f" ({r.sentences} sentences)"
        if r.status == "changed":
            extra = f" ({len(r.removed)} removed, {len(r.added)} added)"
        if r.status in ("new", "changed"):
            if r.categories:
                extra += f" [{', '.join(r.categories)}]"
            if r.commit:
                extra += f" commit {r.commit[:10]}"
        elif r.error:
            extra = f": {r.error}"
        lines.append(f"{r.target:32} {r.region:4} {r.status:15}{extra}")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items()))
    lines.append(f"{len(report.results)} pages in {report.duration_s:.2f} s: {counts}")
    sent = report.extra.get("notifications")
    if sent and (sent["sent"] or sent["failed"]):
        lines.append(f"alerts: {sent['sent']} sent, {sent['failed']} to retry next run")
    return redact("\n".join(lines))


STATUS_ICONS = {
    "new": "🆕",
    "changed": "✏️",
    "unchanged": "✓",
    "error": "❌",
    "blocked": "⛔",
    "region_mismatch": "🌍",
    "skipped": "⏭️",
}


def step_summary(report: RunReport, snapshots_rel: str = "snapshots") -> str:
    """Markdown for GitHub's job summary: target × region with status, categories and links.

    Links point at the snapshot's history on the branch, which stays right when the push
    that follows has to rebase the commit onto another region's.
    """
    import os

    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = os.environ.get("GITHUB_REPOSITORY")
    ref = os.environ.get("GITHUB_REF_NAME") or "HEAD"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items()))
    lines = [
        f"### watcher: {len(report.results)} pages checked in {report.duration_s:.1f} s ({counts})",
        "",
        "| target | region | status | categories | evidence | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        path = f"{snapshots_rel}/{r.target}/{r.region}.md"
        evidence = "-"
        if repo and r.status in ("new", "changed", "unchanged"):
            evidence = f"[history]({server}/{repo}/commits/{ref}/{path})"
        if r.commit:
            evidence += f" `{r.commit[:10]}`"
        note = (r.error or "; ".join(r.events) or "").replace("|", "\\|").replace("\n", " ")
        if r.status in ("new", "changed"):
            note = f"{len(r.removed)} removed, {len(r.added)} added" + (f"; {note}" if note else "")
        cats = ", ".join(CATEGORY_LABELS.get(c, c) for c in r.categories) or "-"
        icon = STATUS_ICONS.get(r.status, "")
        lines.append(
            f"| {r.name or r.target} | {r.region.upper()} | {icon} {r.status} | "
            f"{cats} | {evidence} | {note[:300]} |"
        )
    return redact("\n".join(lines) + "\n")


def annotations(report: RunReport) -> list[str]:
    """GitHub `::warning::` lines for pages that could not be checked (not fatal)."""
    out = []
    for r in report.results:
        if r.status in ("error", "blocked", "region_mismatch"):
            message = (r.error or r.status).replace("%", "%25").replace("\n", "%0A")
            out.append(
                f"::warning title={r.name or r.target} ({r.region.upper()}) {r.status}::{message}"
            )
    return [redact(line) for line in out]
