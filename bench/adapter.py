"""The one place the bench reaches into watcher's internals: the in-process profile.

Everything else in bench/ drives watcher through its CLI (`watcher run … --json`), so that
modules can move without breaking the benchmark. The profile (profile_live.py) needs to run
`Runner.run` in its own process under cProfile; this adapter finds the runner in the current
layout (`watcher.run`, with `watcher.process` beside it) and falls back to the layout before
the split (`watcher.pipeline`). It also names the functions that start each stage of a run,
in both layouts, for the profile's by-stage summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher.config import load_config

try:
    from watcher import process as _process  # noqa: F401  (the stages the runner calls)
    from watcher.run import Runner

    LAYOUT = "watcher.run + watcher.process"
except ImportError:  # before the split into run/process/page/fetch/evidence
    from watcher.pipeline import Runner  # type: ignore[no-redef, import-not-found]

    LAYOUT = "watcher.pipeline"


@dataclass(frozen=True)
class Entry:
    """Functions whose inclusive time is one stage: a file pattern (relative to watcher's
    package folder) and function names. Entries are looked up in both layouts."""

    stage: str
    files: str  # a regular expression matched against the path below watcher/
    names: frozenset[str]


def _e(stage: str, files: str, *names: str) -> Entry:
    return Entry(stage, files, frozenset(names))


# Stage entry points; a stage's time is the inclusive (cumulative) CPU time of its entries,
# not counting calls made from another entry. Order: the order of a page's way through a run.
STAGES: tuple[Entry, ...] = (
    _e("fetch (HTTP, decode)", r"^(fetch/__init__|fetchers)\.py$", "fetch"),
    _e("hash check (input key)", r"^(process|pipeline)\.py$", "input_key"),
    _e("verify (status, wall, length, region)", r"^verify\.py$", "verify_page", "check_status"),
    _e("extract: parse (lexbor)", r"^(page|extract)\.py$", "from_content"),
    _e("extract: sections", r"^extract\.py$", "extract_sections"),
    _e("normalize (Markdown, sentences)", r"^normalize\.py$", "render_markdown", "sentences_of"),
    _e("stable form (mask, hash)", r"^stable\.py$", "stable_digest"),
    _e("capture record (make, sha256)", r"^process\.py$", "capture_of"),
    _e(
        "stored capture (read record, page)",
        r"^evidence/captures\.py$",
        "read_record",
        "read_capture",
    ),
    _e("compare/diff (snapshot read, assess)", r"^(evidence/store|store)\.py$", "read"),
    _e("compare/diff (snapshot read, assess)", r"^(process|pipeline)\.py$", "assess"),
    _e(
        "record/git (snapshots, commits, outbox)",
        r"^(run|pipeline)\.py$",
        "_record_all",
        "_record",
        "_track_failures",
        "open_repo",
        "deliver",
    ),
    _e("record/git (snapshots, commits, outbox)", r"^(evidence/git|store)\.py$", "commit_many"),
)


def make_runner(config_path: str | Path, snapshots: str | Path) -> Any:
    """A runner as `watcher run --config … --snapshots … --no-notify` builds it."""
    return Runner(load_config(config_path), snapshots, commit=True, notify=False)


def summarize(report: Any) -> dict[str, Any]:
    """Statuses and same-input reuses of a run report (as `--json` would give them)."""
    statuses: dict[str, int] = {}
    reused = 0
    for r in report.results:
        status = str(getattr(r.status, "value", r.status))
        statuses[status] = statuses.get(status, 0) + 1
        reused += bool(getattr(r, "same_input", False))
    return {"statuses": statuses, "reused": reused, "results": len(report.results)}
