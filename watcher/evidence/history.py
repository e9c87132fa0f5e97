"""Read the evidence back: the list of recorded changes, the diff between any two recorded
versions, and what one region's text says that another's does not."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..classify import Classification, PageFacts, classify, comparable, plain, section_names
from ..diff import (
    DELETE,
    EQUAL,
    Change,
    Line,
    Section,
    diff_snapshots,
    parse_lines,
    sections_of,
    similarity,
    word_diff,
)
from ..errors import StoreError, UsageError
from ..models import Config, SnapshotMeta
from ..render import apart, text_inline
from .commits import TRAILERS, RecordKind, parse_trailers
from .git import GitRepo

_SEP, _END = "\x1f", "\x1e"
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\(([^)\s]*)\)")


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
    facts = (
        PageFacts(meta_a.page_chars, meta_a.matched),
        PageFacts(meta_b.page_chars, meta_b.matched),
    )
    return VersionDiff(
        rev_a,
        rev_b,
        changes,
        classify(old, new, changes, config.categories, sections, facts=facts),
        meta_a,
        meta_b,
    )


@dataclass
class Difference:
    """The same sentence, near enough, told differently in two regions' texts."""

    section_a: str
    section_b: str
    text_a: str
    text_b: str
    words: list[tuple[int, str]]  # the word diff from a to b (readable text, or the links)
    links_only: bool = False  # the words agree; a link points elsewhere (another form)

    def to_dict(self) -> dict[str, Any]:
        return {
            "section_a": self.section_a,
            "section_b": self.section_b,
            "text_a": self.text_a,
            "text_b": self.text_b,
            "links_only": self.links_only,
        }


@dataclass
class Placement:
    """A sentence both texts have, in another section or row (another legal basis): the
    sections each text has it in and the other does not."""

    text: str
    sections_a: list[str]
    sections_b: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "sections_a": self.sections_a, "sections_b": self.sections_b}


@dataclass
class RegionComparison:
    target: str
    region_a: str
    region_b: str
    only_a: list[tuple[str, str]]  # (section, sentence)
    only_b: list[tuple[str, str]]
    shared: int
    differ: list[Difference] = field(default_factory=list)
    placed: list[Placement] = field(default_factory=list)
    recorded_a: str = ""  # when each side's text was recorded
    recorded_b: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "recorded_" + self.region_a: self.recorded_a,
            "recorded_" + self.region_b: self.recorded_b,
            "only_" + self.region_a: self.only_a,
            "only_" + self.region_b: self.only_b,
            "differ": [d.to_dict() for d in self.differ],
            "placed": [p.to_dict() for p in self.placed],
            "shared": self.shared,
        }


_NEAR = 0.6  # word similarity for two sentences to be the same one, told differently


def _where(line: Line, by_name: dict[str, Section]) -> str:
    """A sentence's section, with the scope of its row when it has one."""
    section = by_name.get(line.section)
    scope = f" ({plain(section.scope)})" if section is not None and section.scope else ""
    return f"{plain(line.section)}{scope}"


def _sentence_key(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a sentence says (spelling and date formats folded) and where its links go."""
    targets = tuple(sorted(m.group(2) for m in _LINK.finditer(text)))
    return comparable(text), targets


def compare_regions(
    snapshots: str | Path,
    target: str,
    region_a: str,
    region_b: str,
) -> RegionComparison:
    """What one region's text says that the other's does not.

    Sentences are the same when their words are (spelling and date formats folded) and
    their links point to the same places: an objection link to another form is a
    difference. A sentence both have in different sections or rows (another legal basis,
    another scope) is a difference of where it sits. Sentences near enough to be the same
    one told differently are paired, with a word diff. Each side says when it was
    recorded."""
    texts: dict[str, list[Line]] = {}
    names: dict[str, dict[str, Section]] = {}
    recorded: dict[str, str] = {}
    for region in (region_a, region_b):
        path = Path(snapshots) / target / f"{region}.md"
        if not path.exists():
            raise UsageError(f"no snapshot for {target} in region {region} ({path})")
        lines = parse_lines(path.read_text(encoding="utf-8"))
        texts[region] = [line for line in lines if not line.heading]
        names[region] = {s.name: s for s in sections_of(lines)}
        meta_path = path.with_suffix(".json")
        if meta_path.exists():
            try:
                recorded[region] = SnapshotMeta.from_json(
                    json.loads(meta_path.read_text())
                ).recorded_at
            except (ValueError, TypeError):
                recorded[region] = ""
    keys = {r: {_sentence_key(ln.text) for ln in lines} for r, lines in texts.items()}
    only = {
        r: [ln for ln in texts[r] if _sentence_key(ln.text) not in keys[other]]
        for r, other in ((region_a, region_b), (region_b, region_a))
    }
    # the same sentence told differently: pair near-identical ones
    differ: list[Difference] = []
    paired_a: set[int] = set()
    paired_b: set[int] = set()
    for i, a in enumerate(only[region_a]):
        best, best_score = -1, _NEAR
        for j, b in enumerate(only[region_b]):
            if j in paired_b:
                continue
            score = similarity(" ".join(comparable(a.text)), " ".join(comparable(b.text)))
            if score > best_score:
                best, best_score = j, score
        if best < 0:
            continue
        b = only[region_b][best]
        paired_a.add(i)
        paired_b.add(best)
        links_only = comparable(a.text) == comparable(b.text)
        words = word_diff(a.text, b.text) if links_only else word_diff(plain(a.text), plain(b.text))
        differ.append(
            Difference(
                _where(a, names[region_a]),
                _where(b, names[region_b]),
                a.text,
                b.text,
                words,
                links_only,
            )
        )
    # the same sentence in other sections or rows
    placed: list[Placement] = []
    where_a: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    where_b: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    first: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for region, bucket in ((region_a, where_a), (region_b, where_b)):
        for ln in texts[region]:
            key = _sentence_key(ln.text)
            bucket.setdefault(key, []).append(_where(ln, names[region]))
            first.setdefault(key, ln.text)
    for key in where_a.keys() & where_b.keys():
        a_folded = {_folded(p): p for p in where_a[key]}
        b_folded = {_folded(p): p for p in where_b[key]}
        a_only = sorted(a_folded[k] for k in a_folded.keys() - b_folded.keys())
        b_only = sorted(b_folded[k] for k in b_folded.keys() - a_folded.keys())
        if a_only or b_only:  # the sections it sits in that the other text lacks
            placed.append(Placement(first[key], a_only, b_only))
    placed.sort(key=lambda p: p.sections_a)
    return RegionComparison(
        target,
        region_a,
        region_b,
        [(ln.section, ln.text) for i, ln in enumerate(only[region_a]) if i not in paired_a],
        [(ln.section, ln.text) for j, ln in enumerate(only[region_b]) if j not in paired_b],
        len(keys[region_a] & keys[region_b]),
        differ,
        placed,
        recorded.get(region_a, ""),
        recorded.get(region_b, ""),
    )


def _folded(place: str) -> str:
    """Where a sentence sits, spelling folded: a section named in en-GB is the same."""
    return " ".join(comparable(place))


def compare_text(c: RegionComparison) -> str:
    """`watcher compare` for people: each side's date, then what differs, most telling
    first: the same sentence told differently (links included), the same sentence in
    another section or row, then what only one text says."""
    a, b = c.region_a.upper(), c.region_b.upper()
    lines = [
        f"{c.target}: the {a} text recorded {c.recorded_a or 'at an unknown date'}, "
        f"the {b} text recorded {c.recorded_b or 'at an unknown date'}",
        "",
        f"== Told differently ({len(c.differ)} sentences: [-{a}-] {{+{b}+}})",
    ]
    for d in c.differ:
        mark = "".join(
            text if op == EQUAL else f"[-{text}-]" if op == DELETE else f"{{+{text}+}}"
            for op, text in apart(d.words)
        )
        lines.append(f"~ {mark}")
        if d.links_only:
            lines.append("  (the same words; a link points elsewhere)")
        where_a, where_b = plain(d.section_a), plain(d.section_b)
        lines.append(f"  {a}: {where_a}" + (f" | {b}: {where_b}" if where_b != where_a else ""))
    lines += ["", f"== The same sentence in another section or row ({len(c.placed)})"]
    for p in c.placed:
        lines.append(f"  {text_inline(p.text)}")
        for region, sections in ((a, p.sections_a), (b, p.sections_b)):
            if sections:
                lines.append(
                    f"    only in the {region} text under: {'; '.join(map(plain, sections))}"
                )
    for region, other, only in ((a, b, c.only_a), (b, a, c.only_b)):
        lines += [
            "",
            f"== What the {region} text says that the {other} text does not "
            f"({len(only)} sentences)",
        ]
        section = None
        for sec, sentence in only:
            if sec != section:
                section = sec
                lines.append(f"[{plain(sec) or 'top'}]")
            lines.append(f"  {text_inline(sentence)}")
    lines += ["", f"{c.shared} sentences are in both (spelling and date formats folded)"]
    return "\n".join(lines)
