"""Read the evidence back: the list of recorded changes, the diff between any two recorded
versions, and what one region's text says that another's does not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..classify import Classification, classify, comparable, section_names
from ..diff import Change, diff_snapshots, parse_lines
from ..errors import StoreError, UsageError
from ..models import Config, SnapshotMeta
from .commits import TRAILERS, RecordKind, parse_trailers
from .git import GitRepo

_SEP, _END = "\x1f", "\x1e"


@dataclass
class HistoryEntry:
    commit: str
    date: str
    target: str
    region: str
    categories: list[str]
    summary: str
    source_url: str = ""
    kind: RecordKind = RecordKind.CHANGE
    archive: str = ""  # the archive an imported version came from
    archive_commit: str = ""
    story: str = ""  # what changed for the three questions, and the counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "date": self.date,
            "target": self.target,
            "region": self.region,
            "categories": self.categories,
            "summary": self.summary,
            "source_url": self.source_url,
            "kind": self.kind,
            "archive": self.archive,
            "archive_commit": self.archive_commit,
            "story": self.story,
        }


def history(
    snapshots: str | Path,
    target: str | None = None,
    region: str | None = None,
    limit: int | None = None,
    *,
    upgrades: bool = False,
) -> list[HistoryEntry]:
    """Recorded changes, newest first, from the commits watcher made (their trailers).
    Extraction upgrades (watcher's own changes, not Meta's) are left out unless asked for."""
    repo = open_repo(snapshots)
    rel = _rel(repo, Path(snapshots))
    path = rel
    if target:
        path = f"{rel}/{target}/{region}.md" if region else f"{rel}/{target}"
    fmt = (
        _SEP.join(
            ["%H", "%aI", "%s"]
            + [f"%(trailers:key={k},valueonly,separator=%x2C)" for k in TRAILERS]
        )
        + _END
    )
    args = ["log", f"--format={fmt}"]
    out = repo.git(*args, "--", path, check=False)
    if out.returncode != 0 and "does not have any commits" in out.stderr:
        return []  # a repository with no commit yet has no record
    if out.returncode != 0:
        raise StoreError(f"git log failed: {out.stderr.strip()}")
    entries = []
    for record in out.stdout.split(_END):
        record = record.strip("\n")
        if not record:
            continue
        sha, date, subject, *values = (record.split(_SEP) + [""] * (3 + len(TRAILERS)))[
            : 3 + len(TRAILERS)
        ]
        info = parse_trailers(dict(zip(TRAILERS, values, strict=True)), subject)
        if info is None:
            continue  # not a watcher record
        if (target and info.target != target) or (region and info.region != region):
            continue
        if info.kind == RecordKind.UPGRADE and not upgrades:
            continue
        entries.append(
            HistoryEntry(
                sha,
                date,
                info.target,
                info.region,
                info.categories,
                subject,
                info.source_url,
                info.kind,
                info.archive,
                info.archive_commit,
                info.story,
            )
        )
        if limit and len(entries) >= limit:
            break
    return entries


def open_repo(snapshots: str | Path) -> GitRepo:
    """The repository of the snapshots folder; a folder outside any is the user's mistake."""
    try:
        return GitRepo(snapshots)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _rel(repo: GitRepo, path: Path) -> str:
    try:
        rel = path.resolve().relative_to(repo.top.resolve())
    except ValueError:
        raise StoreError(f"{path} is not inside the repository at {repo.top}") from None
    return str(rel) if str(rel) != "." else "."


@dataclass
class VersionDiff:
    rev_a: str
    rev_b: str
    changes: list[Change]
    classification: Classification
    meta_a: SnapshotMeta = field(default_factory=SnapshotMeta)
    meta_b: SnapshotMeta = field(default_factory=SnapshotMeta)


def _show(repo: GitRepo, rev: str, path: str) -> str | None:
    out = repo.git("show", f"{rev}:{path}", check=False)
    return out.stdout if out.returncode == 0 else None


def diff_versions(
    config: Config,
    snapshots: str | Path,
    target: str,
    region: str,
    rev_a: str | None = None,
    rev_b: str | None = None,
) -> VersionDiff:
    """The word diff between two recorded versions (default: the last recorded change)."""
    repo = open_repo(snapshots)
    base = f"{_rel(repo, Path(snapshots))}/{target}/{region}"
    if rev_a is None:
        revs = repo.git("log", "--format=%H", "-n2", "--", f"{base}.md").stdout.split()
        if len(revs) < 2:
            raise StoreError(
                f"{base}.md has {len(revs)} recorded version(s); "
                "a diff needs two (or name the revisions)"
            )
        rev_b, rev_a = revs[0], revs[1]
    rev_b = rev_b or "HEAD"
    old = _show(repo, rev_a, f"{base}.md")
    new = _show(repo, rev_b, f"{base}.md")
    if old is None or new is None:
        missing = rev_a if old is None else rev_b
        raise StoreError(f"{base}.md does not exist at {missing}")
    meta_a = SnapshotMeta.from_json(json.loads(_show(repo, rev_a, f"{base}.json") or "{}"))
    meta_b = SnapshotMeta.from_json(json.loads(_show(repo, rev_b, f"{base}.json") or "{}"))
    changes = diff_snapshots(old, new)
    sections = (section_names(meta_a.matched), section_names(meta_b.matched))
    return VersionDiff(
        rev_a,
        rev_b,
        changes,
        classify(old, new, changes, config.categories, sections),
        meta_a,
        meta_b,
    )


@dataclass
class RegionComparison:
    target: str
    region_a: str
    region_b: str
    only_a: list[tuple[str, str]]  # (section, sentence)
    only_b: list[tuple[str, str]]
    shared: int


def compare_regions(
    snapshots: str | Path,
    target: str,
    region_a: str,
    region_b: str,
) -> RegionComparison:
    """Sentences one region's snapshot has and the other's lacks (spelling and dates folded)."""
    texts = {}
    for region in (region_a, region_b):
        path = Path(snapshots) / target / f"{region}.md"
        if not path.exists():
            raise UsageError(f"no snapshot for {target} in region {region} ({path})")
        texts[region] = [
            line for line in parse_lines(path.read_text(encoding="utf-8")) if not line.heading
        ]
    folded = {r: {comparable(line.text) for line in lines} for r, lines in texts.items()}
    only_a = [
        (ln.section, ln.text)
        for ln in texts[region_a]
        if comparable(ln.text) not in folded[region_b]
    ]
    only_b = [
        (ln.section, ln.text)
        for ln in texts[region_b]
        if comparable(ln.text) not in folded[region_a]
    ]
    shared = len(folded[region_a] & folded[region_b])
    return RegionComparison(target, region_a, region_b, only_a, only_b, shared)
