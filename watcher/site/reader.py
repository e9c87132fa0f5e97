"""Read the whole record for the site in two git processes: one `git log` (through
`evidence.history.history`, which reads the commit trailers) and one `git cat-file --batch`
that returns every file version, commit message and capture folder the pages need.

A page per change needs the snapshot before and after it, their metadata and the raw
capture stored with it; asking `git show` for each would cost a process per file, which on
a history of hundreds of changes is most of the build. The diff of each change is computed
once here, as `evidence.history.diff_versions` computes it, and shared by every page that
shows it.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import env
from ..classify import classify, section_names
from ..diff import diff_snapshots
from ..errors import StoreError
from ..evidence.commits import RecordKind
from ..evidence.history import HistoryEntry, VersionDiff, history, open_repo
from ..models import Config, SnapshotMeta
from ..secrets import redact

CAPTURES = ".captures"  # snapshots/.captures/<target>/<region>.<ext> + <region>.json
_TRAILER = re.compile(r"^([A-Za-z][\w-]*): (.*)$")
_ARCHIVE = re.compile(r"archive", re.I)


@dataclass(frozen=True)
class Capture:
    """The raw page stored with a recorded version, and its capture record (a JSON object
    whose fields are shown as they are)."""

    path: str  # repository-relative path of the raw page
    record_path: str
    record: dict[str, Any]


@dataclass
class Record:
    """One recorded change (or first record) with everything its page shows."""

    entry: HistoryEntry
    new: str
    old: str | None
    meta_new: SnapshotMeta
    meta_old: SnapshotMeta
    message: str
    trailers: dict[str, str]
    snapshot_path: str  # repository-relative path of the snapshot file
    capture: Capture | None = None
    diff: VersionDiff | None = None  # None for a first record

    @property
    def sha(self) -> str:
        return self.entry.commit

    @property
    def first(self) -> bool:
        return self.entry.kind == RecordKind.FIRST or self.old is None

    @property
    def imported(self) -> bool:
        """An archived version imported into the history (its trailers name the archive)."""
        if any(_ARCHIVE.search(key) for key in self.trailers):
            return True
        return bool(self.capture and self.capture.record.get("fetcher") == "archive")

    @property
    def captured(self) -> datetime:
        return parse_date(self.entry.date)

    @property
    def body(self) -> list[str]:
        """The commit message's body without its subject and trailers."""
        lines = self.message.splitlines()[1:]
        while lines and (not lines[-1].strip() or _TRAILER.match(lines[-1])):
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        return lines


@dataclass
class Head:
    sha: str = ""
    date: datetime | None = None


@dataclass
class Evidence:
    """Every record, newest first, and the commit the site is built from."""

    records: list[Record] = field(default_factory=list)
    head: Head = field(default_factory=Head)
    snapshots_rel: str = "snapshots"


def parse_date(iso: str) -> datetime:
    """An ISO date as git prints it, in UTC (naive dates are taken as UTC)."""
    value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Objects:
    """`git cat-file --batch` over a list of object names, in one process."""

    def __init__(self, top: Path):
        self.top = top

    def read(self, names: list[str]) -> dict[str, tuple[str, str, bytes] | None]:
        """name -> (object id, type, content), or None for a name that does not exist."""
        unique = list(dict.fromkeys(names))
        if not unique:
            return {}
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.top,
            input="".join(f"{n}\n" for n in unique).encode("utf-8"),
            capture_output=True,
            env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
        )
        if proc.returncode != 0:
            raise StoreError(f"git cat-file failed: {redact(proc.stderr.decode().strip())}")
        out: dict[str, tuple[str, str, bytes] | None] = {}
        data, pos = proc.stdout, 0
        for name in unique:
            end = data.index(b"\n", pos)
            header = data[pos:end].decode("utf-8", "replace").split()
            pos = end + 1
            if len(header) != 3 or header[1] in ("missing", "ambiguous"):
                out[name] = None
                continue
            oid, kind, size = header[0], header[1], int(header[2])
            out[name] = (oid, kind, data[pos : pos + size])
            pos += size + 1  # the content is followed by a newline
        return out


def tree_entries(content: bytes) -> dict[str, str]:
    """A tree object's entries: name -> object id."""
    entries: dict[str, str] = {}
    pos = 0
    while pos < len(content):
        space = content.index(b" ", pos)
        nul = content.index(b"\0", space)
        name = content[space + 1 : nul].decode("utf-8", "replace")
        entries[name] = content[nul + 1 : nul + 21].hex()
        pos = nul + 21
    return entries


def commit_message(content: bytes) -> tuple[str, datetime | None]:
    """A commit object's message and committer date."""
    text = content.decode("utf-8", "replace")
    headers, _, message = text.partition("\n\n")
    when = None
    for line in headers.splitlines():
        if line.startswith("committer "):
            stamp = line.rsplit(" ", 2)[1]  # seconds since the epoch; shown in UTC
            when = datetime.fromtimestamp(int(stamp), UTC)
    return message, when


def trailers_of(message: str) -> dict[str, str]:
    """The trailers of a commit message's last paragraph (`Key: value` lines)."""
    paragraph = message.rstrip("\n").split("\n\n")[-1]
    found: dict[str, str] = {}
    for line in paragraph.splitlines():
        m = _TRAILER.match(line.strip())
        if m:
            found.setdefault(m.group(1), m.group(2).strip())
    return found


def _text(obj: tuple[str, str, bytes] | None) -> str | None:
    return obj[2].decode("utf-8", "surrogatepass") if obj and obj[1] == "blob" else None


def _oid(obj: tuple[str, str, bytes] | None) -> str:
    return obj[0] if obj else ""


def _meta(obj: tuple[str, str, bytes] | None) -> SnapshotMeta:
    text = _text(obj)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return SnapshotMeta.from_json(data if isinstance(data, dict) else {})


def read_evidence(config: Config, snapshots: str | Path) -> Evidence:
    """Every recorded change under `snapshots`, newest first (by capture date, so imported
    history sorts where it belongs), each with its diff computed once."""
    repo = open_repo(snapshots)
    try:
        rel = Path(snapshots).resolve().relative_to(repo.top.resolve()).as_posix()
    except ValueError:
        raise StoreError(f"{snapshots} is not inside the repository at {repo.top}") from None
    rel = "" if rel == "." else rel
    entries = history(snapshots)
    objects = Objects(repo.top)

    def path(*parts: str) -> str:
        return "/".join(p for p in (rel, *parts) if p)

    names = ["HEAD"]
    for e in entries:
        base = path(e.target, e.region)
        captures = path(CAPTURES, e.target)
        names += [e.commit, f"{e.commit}:{base}.md", f"{e.commit}:{base}.json"]
        names += [f"{e.commit}^:{base}.md", f"{e.commit}^:{base}.json"]
        names += [f"{e.commit}:{captures}", f"{e.commit}^:{captures}"]
        names.append(f"{e.commit}:{captures}/{e.region}.json")
    found = objects.read(names)

    head = Head()
    head_obj = found.get("HEAD")
    if head_obj:
        head = Head(head_obj[0], commit_message(head_obj[2])[1])

    records: list[Record] = []
    diffs: dict[tuple[str, ...], VersionDiff] = {}
    for e in entries:
        base = path(e.target, e.region)
        new = _text(found.get(f"{e.commit}:{base}.md"))
        if new is None:
            continue  # the commit names this page but holds no snapshot of it
        old = _text(found.get(f"{e.commit}^:{base}.md"))
        commit_obj = found.get(e.commit)
        message = commit_message(commit_obj[2])[0] if commit_obj else e.summary
        record = Record(
            entry=e,
            new=new,
            old=old if e.kind != RecordKind.FIRST else None,
            meta_new=_meta(found.get(f"{e.commit}:{base}.json")),
            meta_old=_meta(found.get(f"{e.commit}^:{base}.json")),
            message=message,
            trailers=trailers_of(message),
            snapshot_path=f"{base}.md",
            capture=_capture(found, e, path(CAPTURES, e.target)),
        )
        if record.old is not None:
            # a page that flips between two versions repeats the same diff: computed once
            # (the metadata's record time differs every time; its section names do not)
            key = (
                _oid(found.get(f"{e.commit}^:{base}.md")),
                _oid(found.get(f"{e.commit}:{base}.md")),
                *section_names(record.meta_old.matched),
                "\0",
                *section_names(record.meta_new.matched),
            )
            known = diffs.get(key)
            record.diff = (
                replace(known, rev_a=f"{e.commit}^", rev_b=e.commit)
                if known
                else version_diff(config, record)
            )
            diffs[key] = record.diff
        records.append(record)
    # newest first by capture date; records of one date keep git's order (newest first)
    records = [
        r for _, r in sorted(enumerate(records), key=lambda p: (-p[1].captured.timestamp(), p[0]))
    ]
    return Evidence(records, head, rel or ".")


def _capture(
    found: dict[str, tuple[str, str, bytes] | None], e: HistoryEntry, folder: str
) -> Capture | None:
    """The raw capture stored with this version: present at the commit, and (unless it is
    the first record) changed by it, so an older version's capture is never shown as this
    one's."""
    now = found.get(f"{e.commit}:{folder}")
    if not now or now[1] != "tree":
        return None
    entries = tree_entries(now[2])
    before = found.get(f"{e.commit}^:{folder}")
    was = tree_entries(before[2]) if before and before[1] == "tree" else {}
    record_name = f"{e.region}.json"
    if record_name not in entries or was.get(record_name) == entries[record_name]:
        return None
    pages = sorted(n for n in entries if n.startswith(f"{e.region}.") and n != record_name)
    if not pages:
        return None
    text = _text(found.get(f"{e.commit}:{folder}/{record_name}"))
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return Capture(
        f"{folder}/{pages[0]}", f"{folder}/{record_name}", data if isinstance(data, dict) else {}
    )


def version_diff(config: Config, record: Record) -> VersionDiff:
    """The word diff of a change, as `evidence.history.diff_versions` makes it."""
    assert record.old is not None
    changes = diff_snapshots(record.old, record.new)
    sections = (section_names(record.meta_old.matched), section_names(record.meta_new.matched))
    return VersionDiff(
        f"{record.sha}^",
        record.sha,
        changes,
        classify(record.old, record.new, changes, config.categories, sections),
        record.meta_old,
        record.meta_new,
    )
