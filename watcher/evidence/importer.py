"""`watcher import`: an Open Terms Archive versions repository as backdated evidence.

An archive's versions repository is a git repository of Markdown versions, one commit per
recorded version (`<Service>/<Terms>.md`). Each version goes through the same verify →
extract → normalize path as a live page, and is compared with the last one recorded:

* a failed capture (title-only, error page, wall, truncation, collapse) is skipped and
  counted by kind;
* a version of another region's variant is skipped and counted, never stored under the
  region asked for (the variant markers decide, not the collection's name);
* a version whose snapshot text is unchanged adds nothing (most archived versions differ
  only in tracking tokens and CDN host names);
* a real change becomes one commit with the archive's date as its author and committer
  date, the same subject and body as a live change, trailers naming the archive, its
  commit and the capture date, its categories, a feed entry dated the same — and no alert;
* a version the archive itself re-extracted ("Apply technical or declaration upgrade",
  "Refilter") that reads differently is recorded as an extraction upgrade, not as Meta's.

Importing again adds nothing; a newer range appends. History is never rewritten: versions
older than the last record of the (target, region) are refused.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import env
from ..classify import alerting
from ..errors import BlockedError, ExtractionError, FetchError, RegionMismatch, UsageError
from ..models import Config, Region, Result, SnapshotMeta, Status, Target
from ..process import SIZES, Observation, assess, process_page, recent_sizes, rules_fingerprint
from ..render import story_html
from ..stable import exposed, stable_digest
from ..story import tell
from .captures import Capture, RawPage
from .commits import archive_trailers, commit_message, snapshot_trailer, upgrade_message
from .feed import FeedEntry
from .git import GitRepo
from .history import history
from .lock import RepoLock
from .record import Recorder, Version, committed_state
from .store import Snapshot, SnapshotStore, sha256

SEPARATOR = "- - -"
ARCHIVE_UPGRADES = ("Apply technical or declaration upgrade", "Refilter ")
BATCH = 40  # versions per fast-import


@dataclass(frozen=True)
class ArchiveVersion:
    commit: str
    date: str  # ISO 8601, the archive's record date
    subject: str
    source_commit: str
    text: str


@dataclass
class ImportReport:
    target: str
    region: str
    archive: str
    versions: int = 0  # read from the archive (after what was imported before)
    already: int = 0  # imported by an earlier run
    recorded: int = 0  # first record and changes
    upgrades: int = 0
    unchanged: int = 0
    same_stable_form: int = 0  # of the unchanged: not processed (see watcher.stable)
    skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    categories: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "region": self.region,
            "archive": self.archive,
            "versions": self.versions,
            "already_imported": self.already,
            "recorded": self.recorded,
            "upgrades": self.upgrades,
            "unchanged": self.unchanged,
            "unchanged_same_stable_form": self.same_stable_form,
            "skipped": dict(sorted(self.skipped.items())),
            "categories": dict(sorted(self.categories.items())),
            "seconds": round(self.seconds, 2),
        }


def archive_versions(repo: Path, path: str) -> Iterator[ArchiveVersion]:
    """Every recorded version of `path`, oldest first (one `git log`, one `cat-file`)."""
    return archive_texts(repo, path, archive_log(repo, path))


def archive_log(repo: Path, path: str) -> list[tuple[str, str, str, str]]:
    """(commit, date, subject, source commit) of each commit of the archive that touched
    `path`, oldest first: what to read, without reading it."""
    fmt = "%H%x1f%aI%x1f%s%x1f%(trailers:key=Source-Commit,valueonly)%x1e"
    log = subprocess.run(
        ["git", "log", "--reverse", f"--format={fmt}", "--", path],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
    )
    if log.returncode != 0:
        raise UsageError(f"{repo} is not a git repository of archived versions: {log.stderr}")
    records = [r.strip("\n").split("\x1f") for r in log.stdout.split("\x1e") if r.strip()]
    return [(sha, date, subject, source) for sha, date, subject, source in records]


def archive_texts(
    repo: Path, path: str, records: list[tuple[str, str, str, str]]
) -> Iterator[ArchiveVersion]:
    """The versions of `path` at the commits of `records` (from archive_log), read one at a
    time: an archive holds hundreds of versions of a page of half a megabyte. A commit that
    deleted the file has none."""
    if not records:
        return
    batch = subprocess.Popen(
        ["git", "cat-file", "--batch"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
    )
    assert batch.stdin is not None and batch.stdout is not None
    try:
        for sha, date, subject, source in records:
            batch.stdin.write(f"{sha}:{path}\n".encode())
            batch.stdin.flush()
            line = batch.stdout.readline()
            if line.rstrip(b"\n").endswith(b" missing"):
                continue  # the file was deleted in this commit ("<sha>:<path> missing", and
                # the archive's paths have spaces: "Facebook/Privacy Policy.md")
            header = line.split()  # "<blob sha> blob <size>"
            if len(header) < 3:
                raise UsageError(f"{repo}: git cat-file answered {line!r} for {sha}:{path}")
            size = int(header[2])
            data = batch.stdout.read(size)
            batch.stdout.read(1)  # the newline after the object
            text = data.decode("utf-8", "replace")
            yield ArchiveVersion(sha, date, subject, source.strip(), text)
    finally:
        batch.stdin.close()
        batch.stdout.close()
        batch.wait()


def _deletions(repo: Path, path: str, commits: list[str]) -> set[str]:
    """The commits at which `path` does not exist (it was deleted there): one batch check,
    which reads no file."""
    if not commits:
        return set()
    out = subprocess.run(
        ["git", "cat-file", "--batch-check"],
        cwd=repo,
        input="".join(f"{sha}:{path}\n" for sha in commits),
        capture_output=True,
        text=True,
        env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
    )
    return {line.split(":", 1)[0] for line in out.stdout.splitlines() if line.endswith(" missing")}


def component_of(text: str, phrase: str | None) -> str | None:
    """One page of a file that combines several, separated by `- - -` lines: the first part
    that contains `phrase` (the first part when no phrase is given). None: no such part."""
    parts: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if line.strip() == SEPARATOR:
            parts.append([])
        else:
            parts[-1].append(line)
    pages = ["".join(p) for p in parts]
    if phrase is None:
        return pages[0]
    wanted = phrase.lower()
    for page in pages:
        if wanted in page.lower():
            return page
    return None


def _skip_kind(exc: Exception) -> str:
    if isinstance(exc, RegionMismatch):
        return "another region's variant"
    if isinstance(exc, BlockedError):
        why = re.split(r"[(:;]", str(exc), maxsplit=1)[0].strip()
        return f"blocked ({why})"
    if isinstance(exc, ExtractionError):
        return "AI sections not found"
    message = str(exc)
    if "too short" in message or "truncat" in message:
        return "too short or truncated"
    return "failed capture"


def _epoch(date: str) -> str:
    when = datetime.fromisoformat(date.replace("Z", "+00:00"))
    return f"{int(when.timestamp())} +0000"


def _iso(date: str) -> str:
    when = datetime.fromisoformat(date.replace("Z", "+00:00"))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def import_archive(
    config: Config,
    snapshots: str | Path,
    archive_repo: str | Path,
    target_id: str,
    region_code: str | None = None,
    *,
    archive_name: str | None = None,
    progress: Callable[[ImportReport, int], None] | None = None,
    lock_timeout: float = 60.0,
) -> ImportReport:
    """Import one target's recorded versions for one region. See the module docstring."""
    target = config.target(target_id)
    if target.archive is None:
        raise UsageError(
            f"target {target.id} names no archived source: add `archive: {{service: …, "
            "terms: …}}` to it in targets.yaml"
        )
    if region_code is None:
        if len(target.regions) != 1:
            raise UsageError(f"--region is required: {target.id} has {', '.join(target.regions)}")
        region_code = target.regions[0]
    if region_code not in target.regions:
        raise UsageError(f"{target.id} does not watch region '{region_code}'")
    region = config.regions[region_code]
    archive_path = Path(archive_repo)
    name = archive_name or archive_path.resolve().name.removesuffix(".git")
    store = SnapshotStore(snapshots)
    try:
        repo = GitRepo(snapshots)
    except Exception as exc:
        raise UsageError(str(exc)) from None
    report = ImportReport(target.id, region.code, name)
    started = time.perf_counter()
    with RepoLock(repo, lock_timeout):
        committed_state(store, repo)
        done, latest = _imported(snapshots, target, region, name)
        records = archive_log(archive_path, target.archive.path)
        commits = [sha for sha, *_ in records]
        deleted = _deletions(archive_path, target.archive.path, commits)  # no version there
        if done and done[-1] in commits:
            cut = commits.index(done[-1]) + 1
            report.already = sum(1 for sha in commits[:cut] if sha not in deleted)
            records = records[cut:]
        versions = archive_texts(archive_path, target.archive.path, records)
        first = next(versions, None)
        if first is not None and latest and first.date < latest:
            raise UsageError(
                f"{target.id}/{region.code} already has records up to {latest}; the archive's "
                f"versions start {first.date}, and importing them would put older "
                "wording after newer. Import the archive into a fresh repository first "
                "(then run watcher live there), or import only newer versions."
            )
        report.versions = sum(1 for sha, *_ in records if sha not in deleted)
        known = store.read(target.id, region.code)
        recorder = Recorder(store, repo)
        basis: str | None = None  # the stable digest of a version that reads as `known`
        ahead = [] if first is None else [first]
        for i, version in enumerate(itertools.chain(ahead, versions), start=1):
            known, basis = _one(
                config, target, region, version, known, recorder, report, name, basis
            )
            if i % BATCH == 0:
                recorder.commit()
            if progress is not None and (i % 10 == 0 or i == report.versions):
                report.seconds = time.perf_counter() - started
                progress(report, i)
        recorder.commit()
    report.seconds = time.perf_counter() - started
    return report


def _imported(
    snapshots: str | Path, target: Target, region: Region, archive: str
) -> tuple[list[str], str]:
    """The archive commits already imported for (target, region), oldest first, and the
    capture date of its newest record of any origin."""
    entries = history(snapshots, target.id, region.code, upgrades=True)
    done = [
        e.archive_commit for e in reversed(entries) if e.archive == archive and e.archive_commit
    ]
    latest = max((e.date for e in entries), default="")
    return done, latest


def _one(
    config: Config,
    target: Target,
    region: Region,
    version: ArchiveVersion,
    known: Snapshot | None,
    recorder: Recorder,
    report: ImportReport,
    archive: str,
    basis: str | None,
) -> tuple[Snapshot | None, str | None]:
    """Judge and maybe stage one archived version; returns the snapshot to compare with
    next, and the stable digest of a version that reads as it.

    `basis` is the stable digest of the last version that read as `known` (see
    watcher.stable): a version that differs from it only in tracking values and CDN hosts,
    as most archived versions do, is unchanged without being processed."""
    page = component_of(version.text, target.archive.component if target.archive else None)
    if page is None:
        report.skipped["page not in the file"] += 1
        return known, basis
    digest = stable_digest(page.encode("utf-8", "surrogatepass"), target.url, "text/markdown")
    if known is not None and basis == digest and not exposed(known.text):
        report.unchanged += 1
        report.same_stable_form += 1
        return known, basis
    try:
        obs = process_page(page, "text/markdown", target.url, target, region.code, "version.md")
    except (FetchError, ExtractionError) as exc:
        report.skipped[_skip_kind(exc)] += 1
        return known, basis
    status, _, changes, classification = assess(known, obs, target, config)
    if status == Status.UNCHANGED:
        report.unchanged += 1
        return known, digest
    if status == Status.ERROR:
        report.skipped["collapsed (much shorter than the last record)"] += 1
        return known, basis
    captured_at = _iso(version.date)
    obs.raw = RawPage(
        page,
        Capture(
            captured_at=captured_at,
            url=target.url,
            final_url=target.url,
            status=200,
            content_type="text/markdown",
            fetcher="archive",
            region=region.code,
            egress="archive",
            rules=rules_fingerprint(target),
            sha256=sha256(page),
            bytes=len(page.encode("utf-8")),
            source={
                "archive": archive,
                "commit": version.commit,
                "source_commit": version.source_commit,
                "date": version.date,
            },
        ),
    )
    extra = archive_trailers(archive, version.commit, version.source_commit, captured_at)
    meta = SnapshotMeta(
        target=target.id,
        region=region.code,
        name=target.name,
        url=target.url,
        sha256=sha256(obs.text),
        sentences=obs.sentences,
        page_chars=obs.page_chars,
        recorded_at=captured_at,
        matched=obs.matched,
        extra={SIZES: recent_sizes(known, obs.page_chars)},  # the page's usual size
    )
    date = _epoch(version.date)
    if status == Status.CHANGED and version.subject.startswith(ARCHIVE_UPGRADES):
        why = f"the archive re-extracted the page with new rules (“{version.subject}”)"
        message = upgrade_message(target, region, changes, why, extra=extra)
        recorder.stage(
            Version(
                target.id, region.code, obs.text, meta, message, obs.raw, None, None, date, date
            )
        )
        report.upgrades += 1
        return _as_known(obs, meta), digest
    result = Result(target.id, region.code, target.url, target.name, status=status)
    result.sentences = obs.sentences
    feed = None
    if classification is not None:
        result.categories = classification.categories
        result.events = [e.text for e in classification.events]
        result.alert = alerting(result.categories, config.alerts.categories)
        report.categories.update(result.categories)
    note = (
        f"Recorded by the archive {archive} on {captured_at[:10]} and imported by watcher: "
        "the capture date is the archive's."
    )
    message = commit_message(
        result,
        changes,
        target,
        region,
        note=note,
        extra=[*extra, snapshot_trailer(meta.sha256)],
        events=classification.events if classification else [],
    )
    if status == Status.CHANGED:
        feed = FeedEntry(
            region_name=region.name,
            entry_id=f"urn:watcher:{target.id}:{region.code}:{meta.sha256[:16]}:{captured_at}",
            title=message.splitlines()[0],
            updated=captured_at,
            source_url=target.url,
            html=story_html(tell(changes, classification.events if classification else [])),
            categories=result.categories,
        )
    recorder.stage(
        Version(target.id, region.code, obs.text, meta, message, obs.raw, feed, None, date, date)
    )
    report.recorded += 1
    return _as_known(obs, meta), digest  # recorded: the next versions compare with it


def _as_known(obs: Observation, meta: SnapshotMeta) -> Snapshot:
    return Snapshot(obs.text, meta)
