"""What a run tells people: the `--json` object, a text summary and GitHub's job summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .env import GitHubContext
from .models import Result, Status, category_labels
from .secrets import redact

STATUS_ICONS = {
    Status.NEW: "🆕",
    Status.CHANGED: "✏️",
    Status.UNCHANGED: "✓",
    Status.ERROR: "❌",
    Status.BLOCKED: "⛔",
    Status.REGION_MISMATCH: "🌍",
    Status.SKIPPED: "⏭️",
}


@dataclass
class RunReport:
    results: list[Result]
    started_at: str
    duration_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def internal_errors(self) -> list[Result]:
        return [r for r in self.results if r.internal]

    def to_dict(self) -> dict[str, Any]:
        return {
            "watcher_version": __version__,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            **self.extra,
        }


def to_json(report: RunReport) -> str:
    return redact(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))


def text_summary(report: RunReport) -> str:
    lines = []
    for r in report.results:
        extra = ""
        if r.status == "new":
            extra = f" ({r.sentences} sentences)"
        if r.status == "changed":  # the story's line: its summary and its counts
            extra = f" ({r.events[0]})" if r.events else ""
        if r.status.recorded:
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


def step_summary(report: RunReport, github: GitHubContext, snapshots_rel: str = "snapshots") -> str:
    """Markdown for GitHub's job summary: target × region with status, categories and links.

    Links point at the snapshot's history on the branch, which stays right when the push
    that follows has to rebase the commit onto another region's.
    """
    repo = github.repository_url
    ref = github.ref_name
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
            evidence = f"[history]({repo}/commits/{ref}/{path})"
        if r.commit:
            evidence += f" `{r.commit[:10]}`"
        # a change's note is its story: the one-line summary and the counts, then events
        note = (r.error or "; ".join(r.events) or "").replace("|", "\\|").replace("\n", " ")
        if r.status == "new":
            note = f"{r.sentences} sentences recorded" + (f"; {note}" if note else "")
        cats = ", ".join(category_labels(r.categories)) or "-"
        icon = STATUS_ICONS.get(r.status, "")
        lines.append(
            f"| {r.name or r.target} | {r.region.upper()} | {icon} {r.status} | "
            f"{cats} | {evidence} | {note[:400]} |"
        )
    return redact("\n".join(lines) + "\n")


def warning_annotations(report: RunReport) -> list[str]:
    """GitHub `::warning::` lines for pages that could not be checked (not fatal)."""
    out = []
    for r in report.results:
        if r.status.failed:
            message = (r.error or r.status).replace("%", "%25").replace("\n", "%0A")
            out.append(
                f"::warning title={r.name or r.target} ({r.region.upper()}) {r.status}::{message}"
            )
    return [redact(line) for line in out]
