"""Recording versions: the one place that turns versions into commits and files.

A version's files (the snapshot, its metadata, its raw capture, the region's feed and
outbox as of that version) are computed in memory, committed with one `git fast-import`
(objects written and the branch moved in one step, or not at all), and only then written
to the working tree. A run killed before the commit leaves nothing; killed after it, the
working tree is behind HEAD, and `committed_state` reads HEAD and restores the files, so
the next run never mistakes a half-written tree for the evidence.

Both the live run and the importer record through `Recorder`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..models import Alert, SnapshotMeta
from .captures import RawPage, capture_paths, page_path, parse_capture
from .feed import FeedEntry, add_entry, feed_path
from .git import GitRepo, NewCommit
from .outbox import Outbox
from .store import Snapshot, SnapshotStore, atomic_write, atomic_write_bytes, dump_meta

log = logging.getLogger("watcher")


@dataclass
class Version:
    """One version of a (target, region) to record."""

    target: str
    region: str
    text: str
    meta: SnapshotMeta
    message: str
    raw: RawPage | None = None
    feed: FeedEntry | None = None
    alert: Alert | None = None
    author_date: str | None = None  # `<unix seconds> +0000`; None: now
    committer_date: str | None = None


@dataclass
class Recorder:
    store: SnapshotStore
    repo: GitRepo | None
    outboxes: dict[str, Outbox] = field(default_factory=dict)
    # each staged file once, as the bytes its commit holds (or the spooled page's path)
    _files: dict[Path, bytes | Path] = field(default_factory=dict)
    _deleted: set[Path] = field(default_factory=set)
    _batch: list[tuple[str, NewCommit]] = field(default_factory=list)  # (region, commit)

    def outbox(self, region: str) -> Outbox:
        if region not in self.outboxes:
            self.outboxes[region] = Outbox.load(self.store.root, region)
        return self.outboxes[region]

    def _current(self, path: Path) -> str | None:
        staged = self._files.get(path)
        if staged is not None:
            data = staged.read_bytes() if isinstance(staged, Path) else staged
            return data.decode("utf-8", "surrogatepass")
        if path in self._deleted:
            return None
        return path.read_text(encoding="utf-8") if path.exists() else None

    def stage(self, version: Version) -> None:
        """Compute this version's files, as of it (after the versions staged before)."""
        md, meta_path = self.store.paths(version.target, version.region)
        files: dict[Path, str] = {md: version.text, meta_path: dump_meta(version.meta)}
        data: dict[Path, bytes | Path] = {}
        deleted: list[Path] = []
        if version.raw is not None:
            html, mdx, record = capture_paths(self.store.root, version.target, version.region)
            page = page_path(self.store.root, version.target, version.region, version.raw.capture)
            data[page] = version.raw.data()
            files[record] = version.raw.record_text()
            other = mdx if page == html else html
            if self._current(other) is not None:
                deleted.append(other)
        if version.feed is not None:
            feed = feed_path(self.store.root, version.region)
            files[feed] = add_entry(self._current(feed), version.feed)
        if version.alert is not None and self.repo is not None:
            box = self.outbox(version.region)  # the alert enters the outbox with its change
            box.alerts.append(version.alert)
            files[box.path] = box.dump()
        data.update({p: t.encode("utf-8", "surrogatepass") for p, t in files.items()})
        for path in deleted:
            self._files.pop(path, None)
            self._deleted.add(path)
        for path, content in data.items():
            self._deleted.discard(path)
            self._files[path] = content
        if self.repo is not None:
            rel = self.repo.relative
            self._batch.append(
                (
                    version.region,
                    NewCommit(
                        version.message,
                        {rel(p): content for p, content in data.items()},
                        version.author_date,
                        version.committer_date,
                        deleted=tuple(rel(p) for p in deleted),
                    ),
                )
            )

    def commit(self) -> list[str]:
        """Commit what was staged (one commit per version, in order), then write the files.
        Raises StoreError with nothing written when the commit fails."""
        shas: list[str] = []
        if self.repo is not None and self._batch:
            try:
                shas = self.repo.commit_many([c for _, c in self._batch])
            except StoreError:
                for code in {region for region, _ in self._batch}:
                    self.outboxes.pop(code, None)  # the queued alerts were not committed
                self._reset()
                raise
        for path, content in self._files.items():
            if isinstance(content, Path):
                content = content.read_bytes()  # a spooled page, read one at a time
            atomic_write_bytes(path, content)
        for path in self._deleted:
            path.unlink(missing_ok=True)
        for box in self.outboxes.values():
            box.mark_saved()
        self._reset()
        return shas

    def _reset(self) -> None:
        self._files.clear()
        self._deleted.clear()
        self._batch.clear()


def committed_state(store: SnapshotStore, repo: GitRepo | None) -> list[str]:
    """Bring the snapshots folder in line with HEAD where a killed run left it behind (or
    anything else changed it), so every comparison is with the committed evidence.
    Returns the paths restored."""
    if repo is None or not store.root.exists():
        return []
    rel = repo.relative(store.root)
    out = repo.git("status", "--porcelain", "-z", "--untracked-files=no", "--", rel, check=False)
    if out.returncode != 0 or not out.stdout:
        return []
    if repo.head() is None:
        return []
    paths = [entry[3:] for entry in out.stdout.split("\0") if len(entry) > 3]
    restored = []
    for path in paths:
        shown = repo.git("show", f"HEAD:{path}", check=False)
        target = repo.top / path
        if shown.returncode == 0:
            atomic_write(target, shown.stdout)
        else:
            target.unlink(missing_ok=True)
        restored.append(path)
    repo.git("reset", "-q", "--", *paths, check=False)
    log.warning(
        "%d file(s) in %s differed from the last commit (an interrupted run?); "
        "restored the committed evidence: %s",
        len(restored),
        rel,
        ", ".join(restored[:5]),
    )
    return restored


def committed_capture(
    repo: GitRepo, store: SnapshotStore, target: str, region: str, rev: str
) -> RawPage | None:
    """The raw capture stored with a snapshot at revision `rev`."""
    html, md, record = (repo.relative(p) for p in capture_paths(store.root, target, region))
    shown = repo.git("show", f"{rev}:{record}", check=False)
    if shown.returncode != 0:
        return None
    pages: dict[str, str | None] = {}
    for ext, path in (("html", html), ("md", md)):
        data = repo.show_bytes(rev, path)
        pages[ext] = data.decode("utf-8", "surrogatepass") if data is not None else None
    return parse_capture(shown.stdout, pages)


def committed_snapshot(
    repo: GitRepo, store: SnapshotStore, target: str, region: str, rev: str
) -> Snapshot | None:
    import json

    md, meta = (repo.relative(p) for p in store.paths(target, region))
    text = repo.git("show", f"{rev}:{md}", check=False)
    if text.returncode != 0:
        return None
    data = repo.git("show", f"{rev}:{meta}", check=False)
    raw = json.loads(data.stdout) if data.returncode == 0 and data.stdout.strip() else {}
    return Snapshot(text.stdout, SnapshotMeta.from_json(raw))
