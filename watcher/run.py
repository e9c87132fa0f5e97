"""One run of the job: orchestration only.

plan → fetch → process → compare → (confirm) → classify → record → notify

Fetching and the per-page work run in a bounded thread pool; recording is serial and in
plan order, so the history reads the same whatever the timing. One failing (target, region)
never stops the others: it becomes a result with its status and reason. A bug in watcher
is not a failing page: it is reported as internal (the CLI exits 1) and never counts
toward a failure alert.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import alerts, env, secrets
from .classify import Classification, alerting
from .config import select
from .diff import Change, diff_snapshots, removed_added
from .errors import ExtractionError, StoreError, WatcherError
from .evidence.captures import Capture, RawPage, capture_paths, read_capture, read_record
from .evidence.commits import commit_message, snapshot_trailer, upgrade_message
from .evidence.feed import change_entry, feed_path
from .evidence.git import GitRepo
from .evidence.lock import RepoLock, recover_index_lock
from .evidence.outbox import Outbox, track_failures
from .evidence.record import Recorder, Version, committed_state
from .evidence.store import Snapshot, SnapshotStore, atomic_write, sha256
from .fetch import Fetchers, skip_reason
from .models import Alert, Config, Region, Result, SnapshotMeta, Status, Streak, Target
from .notify import Delivery, deliver_pending
from .process import (
    SIZES,
    Observation,
    as_snapshot,
    assess,
    observe,
    recent_sizes,
    reprocess,
    rules_fingerprint,
    stable_basis,
    stored_digest,
    usual_sizes,
)
from .report import RunReport
from .story import headline
from .workers import Workers, default_count

log = logging.getLogger("watcher")
SPOOL = "watcher-spool"  # in the git directory: pages waiting for their commit
RECORD_BATCH = 50  # versions per fast-import when a run records many


def _git_date(when: datetime) -> str:
    """A commit date from the run's clock (the one clock everything here reads)."""
    return f"{int(when.timestamp())} +0000"


class InternalError(Exception):
    """A bug in watcher while handling one page (not the page's fault)."""


@dataclass
class Pending:
    """A (target, region) whose new text will be recorded."""

    target: Target
    region: Region
    result: Result
    observation: Observation
    changes: list[Change]
    old: Snapshot | None
    classification: Classification | None = None

    def as_known(self) -> Snapshot:
        """The first fetch's result, as the snapshot a second fetch is compared with."""
        return as_snapshot(self.observation)

    @property
    def basis(self) -> str | None:
        """The first fetch's stable digest: a second fetch equal to it needs no processing."""
        raw = self.observation.raw
        return raw.capture.stable if raw is not None and raw.capture.stable else None


@dataclass
class Upgrade:
    """A stored capture that today's rules read differently: watcher's change, not Meta's."""

    target: Target
    region: Region
    observation: Observation
    changes: list[Change]
    old: Snapshot


class Runner:
    def __init__(
        self,
        config: Config,
        snapshots: str | Path,
        *,
        commit: bool = True,
        notify: bool = True,
        now: Callable[[], datetime] | None = None,
        github: env.GitHubContext | None = None,
        lock_timeout: float = 60.0,
        audit: bool = False,
    ):
        self.config = config
        self.audit = audit  # process every page, and check what a skip would have given
        self.store = SnapshotStore(snapshots)
        self.commit = commit
        self.notify = notify
        self.now = now or (lambda: datetime.now(UTC))
        self.github = github or env.github()
        self.lock_timeout = lock_timeout
        self.started_wall = time.time()
        self.repo: GitRepo | None = None
        self._upgrades: dict[tuple[str, str], Upgrade] = {}
        # captures today's rules read again, as their snapshots: their records are updated
        self._reread: dict[tuple[str, str], Capture] = {}
        self._states: dict[str, Outbox] = {}
        self._snapshots: dict[tuple[str, str], Snapshot] = {}  # as read before this run
        self._spool_dir: Path | None = None
        # where pages are processed: worker processes, or this one a page at a time
        self._workers: Workers | None = None

    def run(
        self,
        targets: list[str] | None = None,
        regions: list[str] | None = None,
    ) -> RunReport:
        secrets.register_env()
        started = time.perf_counter()
        started_at = alerts.iso(self.now())
        plan = select(self.config, targets, regions)
        with self._exclusive():
            return self._run(plan, started, started_at)

    def _exclusive(self) -> AbstractContextManager[object]:
        """One run at a time on a repository (see evidence.lock); nothing without a repo."""
        if not self.commit:
            return nullcontext()
        repo = self.open_repo()  # fails early: nothing fetched for nothing
        return RepoLock(repo, self.lock_timeout)

    def _run(self, plan: list[tuple[Target, str]], started: float, started_at: str) -> RunReport:
        # started first, so that the workers import watcher while the repository is read
        with Workers(default_count(len(plan))) as workers:
            self._workers = workers
            if workers.active:
                log.info("%d worker processes for %d pages", workers.count, len(plan))
            try:
                return self._run_with(plan, started, started_at)
            finally:
                self._workers = None

    def _run_with(
        self, plan: list[tuple[Target, str]], started: float, started_at: str
    ) -> RunReport:
        if self.repo is not None:
            recover_index_lock(self.repo, self.started_wall)
            committed_state(self.store, self.repo)
            self._spool_dir = self.repo.git_path(SPOOL)
            shutil.rmtree(self._spool_dir, ignore_errors=True)  # left by a killed run
        results: dict[tuple[str, str], Result] = {}
        pending: list[Pending] = []
        with (
            Fetchers(self.config) as fetchers,
            ThreadPoolExecutor(max_workers=self.config.fetch.concurrency) as pool,
        ):
            jobs = []
            for target, code in plan:
                region = self.config.regions[code]
                result = Result(
                    target=target.id,
                    region=code,
                    url=target.url,
                    name=target.name,
                    snapshot=str(self.store.paths(target.id, code)[0]),
                )
                results[(target.id, code)] = result
                reason = skip_reason(target, region, fetchers)
                if reason:
                    result.status, result.error = Status.SKIPPED, reason
                    continue
                jobs.append((target, region, result))
            first = [pool.submit(self._observe, fetchers, t, r) for t, r, _ in jobs]
            to_confirm = []
            first.reverse()  # popped in plan order: an unchanged page's text and raw capture
            for target, region, result in jobs:  # are let go at once, not at the run's end
                outcome = first.pop().result()
                item = self._compare(target, region, result, outcome)
                if item is not None:
                    if self.config.fetch.confirm:
                        to_confirm.append(item)  # a first record is confirmed like a change
                    else:
                        pending.append(item)
            # the second fetch reuses the first one's result when its bytes are the same
            second = [
                pool.submit(self._observe, fetchers, p.target, p.region, p.as_known(), p.basis)
                for p in to_confirm
            ]
            second.reverse()
            for item in to_confirm:
                if self._confirm(item, second.pop().result()):
                    pending.append(item)
        order = {key: i for i, key in enumerate(results)}
        pending.sort(key=lambda p: order[(p.target.id, p.region.code)])
        self._record_all(pending, [results[k] for k in results if k in self._upgrades])
        self._note_rereads({(p.target.id, p.region.code) for p in pending})
        if self._spool_dir is not None:
            shutil.rmtree(self._spool_dir, ignore_errors=True)
        extra: dict[str, Any] = {}
        if self.repo is not None:
            self._track_failures(list(results.values()))
            if self.notify:
                extra["notifications"] = self.deliver(sorted({r for _, r in plan})).to_dict()
        report = RunReport(
            results=list(results.values()),
            started_at=started_at,
            duration_s=time.perf_counter() - started,
            extra=extra,
        )
        return report

    # -- alerts ---------------------------------------------------------------------------

    def open_repo(self) -> GitRepo:
        if self.repo is None:
            self.repo = GitRepo(self.store.root)
        return self.repo

    def _state(self, region: str) -> Outbox:
        if region not in self._states:
            self._states[region] = Outbox.load(self.store.root, region)
        return self._states[region]

    def _track_failures(self, results: list[Result]) -> None:
        settings = self.config.alerts

        def failure(result: Result, streak: Streak) -> Alert:
            target, region = self.config.target(result.target), self.config.regions[result.region]
            return alerts.failure_alert(target, region, streak, settings, self.now())

        def recovery(result: Result, _streak: Streak) -> Alert:
            target, region = self.config.target(result.target), self.config.regions[result.region]
            return alerts.recovery_alert(target, region, settings, self.now())

        touched = track_failures(
            self._state, results, settings.failure_threshold, failure, recovery
        )
        changed = [self._state(r).path for r in touched if self._state(r).save()]
        if changed and self.repo is not None:
            self.repo.commit(changed, "Update watcher state: failure streaks and alerts")

    def deliver(self, regions: list[str]) -> Delivery:
        """Send what waits in the outbox of these regions; record delivery in git."""
        return deliver_pending(
            self.config.alerts,
            self.store.root,
            regions,
            self.now(),
            self.github,
            repo=self.open_repo(),
            outboxes=self._states,
        )

    def _observe(
        self,
        fetchers: Fetchers,
        target: Target,
        region: Region,
        first: Snapshot | None = None,
        first_basis: str | None = None,
    ) -> Observation | WatcherError | InternalError:
        try:
            fetchers.http.run_deadline.check()  # no page starts after fetch.run_deadline
            basis = first_basis
            if first is None:  # the first fetch: compare with the stored snapshot
                known = self.store.read(target.id, region.code)
                if known is not None:
                    known, basis = self._upgrade(target, region, known)
                    self._snapshots[(target.id, region.code)] = known
            else:  # the confirming fetch: compare with the first one
                known = first
            now = alerts.iso(self.now())
            return observe(
                fetchers,
                self.config,
                target,
                region,
                known,
                now,
                basis,
                self.audit,
                offload=self._workers,
            )
        except WatcherError as exc:
            return exc
        except Exception as exc:  # a bug in watcher: reported as such, never as the page's
            log.exception("%s/%s: internal error", target.id, region.code)
            return InternalError(f"internal error: {type(exc).__name__}: {exc}")

    def _fail(self, result: Result, exc: WatcherError | InternalError) -> None:
        result.status = Status(getattr(exc, "status", Status.ERROR))
        result.internal = isinstance(exc, InternalError)
        result.error = secrets.redact(str(exc))
        log.warning("%s/%s: %s: %s", result.target, result.region, result.status, result.error)

    def _compare(
        self,
        target: Target,
        region: Region,
        result: Result,
        outcome: Observation | WatcherError | InternalError,
    ) -> Pending | None:
        if not isinstance(outcome, Observation):
            self._fail(result, outcome)
            return None
        result.sentences = outcome.sentences
        result.same_input = outcome.reused and not outcome.same_stable_form
        result.same_stable_form = outcome.same_stable_form
        if outcome.audit:
            result.events.append(outcome.audit)
        old = self._snapshots.get((target.id, region.code))
        status, reason, changes, classification = assess(old, outcome, target, self.config)
        if status == Status.UNCHANGED:
            result.status = Status.UNCHANGED
            return None
        if status == Status.ERROR:
            self._fail(result, ExtractionError(reason or "broken capture"))
            return None
        self._spool(target, region, outcome)
        return Pending(target, region, result, outcome, changes, old, classification)

    def _spool(self, target: Target, region: Region, obs: Observation) -> None:
        """Move a page waiting to be recorded from memory to a file in the git directory:
        a first run records every page, and none of them need stay in memory until then."""
        raw = obs.raw
        if self._spool_dir is None or raw is None or raw.spool is not None:
            return
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        path = self._spool_dir / f"{target.id}--{region.code}"
        path.write_bytes(raw.content.encode("utf-8", "surrogatepass"))
        obs.raw = RawPage("", raw.capture, spool=path)

    def _confirm(self, item: Pending, second: Observation | WatcherError | InternalError) -> bool:
        """A change counts only when a second fetch gives the same text."""
        result = item.result
        if not isinstance(second, Observation):
            self._fail(result, second)
            result.error = f"change not confirmed: second fetch failed: {result.error}"
            return False
        if second.text == item.observation.text:
            return True
        if item.old is not None and second.text == item.old.text:
            result.status = Status.UNCHANGED
            result.events.append(
                "unconfirmed change: a second fetch matched the snapshot (flip-flopping variants?)"
            )
            return False
        result.status = Status.ERROR
        result.error = (
            "page unstable: two fetches a moment apart gave different texts; snapshot kept"
        )
        return False

    def _upgrade(
        self, target: Target, region: Region, known: Snapshot
    ) -> tuple[Snapshot, str | None]:
        """Re-read the stored raw capture when the rules or the snapshot code changed since
        it was recorded. A different text is watcher's change, recorded as an upgrade (no
        alert) before anything fetched now is compared; the new fetch is then compared with
        the upgraded text, so only Meta's changes read as changes.

        Returns the snapshot to compare with, and the stable digest of the capture it is
        today's reading of (None when there is no such capture)."""
        record = read_record(self.store.root, target.id, region.code)
        if record is None:
            return known, None
        if record.rules == rules_fingerprint(target):  # read with today's rules
            # the record's digest when it has today's: the page itself need not be read
            basis = stored_digest(record)
            if basis is not None:
                return known, basis
            # made by another version of the stable form: computed from the page once, and
            # noted in its record (_note_rereads), so that later runs need not read it again
            raw = read_capture(self.store.root, target.id, region.code)
            basis = stable_basis(raw, self._workers)
            if raw is not None and basis is not None:
                raw.capture.stable = basis
                self._reread[(target.id, region.code)] = raw.capture
            return known, basis
        raw = read_capture(self.store.root, target.id, region.code)
        if raw is None:
            return known, None
        try:
            redone = reprocess(raw, target, region.code, self._workers)
        except WatcherError as exc:
            log.warning(
                "%s/%s: the stored capture no longer passes with the new rules (%s); "
                "comparing with the recorded text",
                target.id,
                region.code,
                exc,
            )
            return known, None  # the recorded text is not today's reading of the capture
        raw.capture.rules = rules_fingerprint(target)
        redone.raw = raw
        raw.capture.stable = stable_basis(raw, self._workers) or ""
        if redone.text == known.text:
            # same text: nothing to record; the capture's record is updated (see
            # _note_rereads), so that later runs need not read the capture again
            self._reread[(target.id, region.code)] = raw.capture  # not the page: a record
            return known, raw.capture.stable or None
        changes = diff_snapshots(known.text, redone.text)
        self._upgrades[(target.id, region.code)] = Upgrade(target, region, redone, changes, known)
        return as_snapshot(redone), raw.capture.stable or None

    def _note_rereads(self, recorded: set[tuple[str, str]]) -> None:
        """Commit the records of the captures that today's rules read as their snapshots:
        their rules fingerprint (and stable digest) is today's, and nothing else changes.
        Not a record of Meta's (no trailers, no snapshot touched, no alert): without it,
        every run after an update of watcher would extract every stored capture again."""
        if self.repo is None or not self.commit:
            return
        paths = []
        for (target, region), capture in sorted(self._reread.items()):
            if (target, region) in recorded:
                continue  # recorded anew this run, with its own capture
            path = capture_paths(self.store.root, target, region)[2]
            atomic_write(path, RawPage("", capture).record_text())
            paths.append(path)
        self._reread.clear()
        if not paths:
            return
        count = f"{len(paths)} stored capture{'s' if len(paths) > 1 else ''}"
        try:
            self.repo.commit(
                paths,
                f"Note that watcher's new rules read {count} as recorded\n\n"
                "The snapshot code, the rules or the stable form changed. Each capture was "
                "read again and gives its snapshot's text: nothing changed. Its capture "
                "record now names the new rules and holds the new stable digest, so later "
                "runs need not read it again.",
            )
        except StoreError as exc:  # the files are restored from HEAD by the next run
            log.warning("could not commit the re-read capture records: %s", exc)

    def _record_all(self, pending: list[Pending], upgraded: list[Result]) -> None:
        """Record the upgrades, then the confirmed changes, one commit each, in plan order,
        RECORD_BATCH versions per fast-import (a first run records every page: its texts
        need not all wait in memory). The files of a batch are written only once its
        commits exist (see evidence.record)."""
        recorder = Recorder(self.store, self.repo, self._states)
        staged: list[Result | None] = []

        def flush() -> None:
            try:
                shas = recorder.commit()
            except StoreError as exc:
                for result in staged:
                    if result is not None:
                        self._fail(result, exc)
                staged.clear()
                return
            for result, sha in zip(staged, shas, strict=False):
                if result is not None:
                    result.commit = sha
            staged.clear()

        by_key = {(p.target.id, p.region.code): p for p in pending}
        keys = [(r.target, r.region) for r in upgraded]
        keys += [k for k in by_key if k not in self._upgrades]
        order = {(t.id, r): i for i, (t, r) in enumerate(select(self.config, None, None))}
        for key in sorted(set(keys), key=lambda k: order.get(k, 0)):
            upgrade = self._upgrades.get(key)
            if upgrade is not None:
                recorder.stage(self._upgrade_version(upgrade))
                staged.append(None)
            item = by_key.get(key)
            if item is not None:
                try:
                    recorder.stage(self._version(item))
                    staged.append(item.result)
                except (StoreError, OSError, ValueError) as exc:
                    err = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                    self._fail(item.result, err)
            if len(staged) >= RECORD_BATCH:
                flush()
        flush()

    def _upgrade_version(self, upgrade: Upgrade) -> Version:
        obs, target, region = upgrade.observation, upgrade.target, upgrade.region
        meta = self._meta(target, region, obs, upgrade.old.meta.recorded_at)
        meta.extra[SIZES] = usual_sizes(upgrade.old)
        why = "watcher's rules or snapshot code changed"
        date = _git_date(self.now())
        return Version(
            target.id,
            region.code,
            obs.text,
            meta,
            upgrade_message(target, region, upgrade.changes, why),
            raw=obs.raw,
            author_date=date,
            committer_date=date,
        )

    def _meta(self, target: Target, region: Region, obs: Observation, at: str) -> SnapshotMeta:
        return SnapshotMeta(
            target=target.id,
            region=region.code,
            name=target.name,
            url=target.url,
            sha256=sha256(obs.text),
            sentences=obs.sentences,
            page_chars=obs.page_chars,
            recorded_at=at,
            matched=obs.matched,
            input=obs.input_key,
        )

    def _version(self, item: Pending) -> Version:
        """The version a confirmed change (or first record) is recorded as."""
        target, region, result, obs = item.target, item.region, item.result, item.observation
        result.status = Status.NEW if item.old is None else Status.CHANGED
        result.removed, result.added = removed_added(item.changes)
        events = item.classification.events if item.classification else []
        if item.classification is not None:
            result.categories = item.classification.categories
            # the story's line first (summary and counts), then each event
            result.events += [headline(item.changes, events, self.config.alerts.categories)]
            result.events += [e.text for e in events]
            result.alert = alerting(result.categories, self.config.alerts.categories)
        now = self.now()
        meta = self._meta(target, region, obs, alerts.iso(now))
        meta.extra[SIZES] = recent_sizes(item.old, obs.page_chars)  # the page's usual size
        message = commit_message(
            result,
            item.changes,
            target,
            region,
            events=events,
            extra=[snapshot_trailer(meta.sha256)],
        )
        feed = None
        if result.status == Status.CHANGED:
            feed_file = feed_path(self.store.root, region.code)
            feed = change_entry(
                region_name=region.name,
                entry_id=f"urn:watcher:{target.id}:{region.code}:{meta.sha256[:16]}:{meta.recorded_at}",
                title=message.splitlines()[0],
                updated=meta.recorded_at,
                source_url=target.url,
                categories=result.categories,
                changes=item.changes,
                events=events,
                snapshot_sha=meta.sha256,
                github=self.github,
                feed_path=self.repo.relative(feed_file) if self.repo is not None else "",
            )
        alert = None
        if self.repo is not None and result.alert:
            alert = alerts.change_alert(
                result, item.changes, events, target, region, self.config.alerts, meta.sha256, now
            )
        date = _git_date(now)
        return Version(
            target.id, region.code, obs.text, meta, message, obs.raw, feed, alert, date, date
        )


@dataclass
class CheckOutcome:
    """What `watcher check` found for one region: the text, or why there is none."""

    header: str
    status: Status
    reason: str = ""
    observation: Observation | None = None


def check(config: Config, target_id: str, regions: list[str] | None = None) -> list[CheckOutcome]:
    """Fetch and process one target as `run` would, storing nothing. Every region asked for
    is checked before anything is fetched."""
    from .errors import UsageError

    secrets.register_env()
    target = config.target(target_id)
    codes = regions or list(target.regions)
    for code in codes:
        if code not in config.regions:
            raise UsageError(
                f"--region: unknown region '{code}' (known: {', '.join(config.regions)})"
            )
    out = []
    with Fetchers(config) as fetchers:
        for code in codes:
            region = config.regions[code]
            header = f"== {target.name} ({region.name}) {target.url}"
            reason = skip_reason(target, region, fetchers)
            if reason:
                out.append(CheckOutcome(header, Status.SKIPPED, reason))
                continue
            try:
                obs = observe(fetchers, config, target, region)
            except WatcherError as exc:
                status = Status(getattr(exc, "status", Status.ERROR))
                out.append(CheckOutcome(header, status, secrets.redact(str(exc))))
                continue
            out.append(CheckOutcome(header, Status.UNCHANGED, observation=obs))
    return out


@dataclass
class Reextraction:
    rev: str
    observation: Observation
    same: bool


def _recorded(snapshots: str | Path, target: str, region: str, rev: str) -> tuple[GitRepo, str]:
    from .errors import UsageError
    from .evidence.history import open_repo

    repo = open_repo(snapshots)
    sha = repo.git("rev-parse", "--verify", "-q", f"{rev}^{{commit}}", check=False).stdout.strip()
    if not sha:
        raise UsageError(f"no such revision: {rev}")
    return repo, sha


def check_recorded(
    config: Config, snapshots: str | Path, target_id: str, region: str, rev: str
) -> Reextraction:
    """Re-extract the raw capture recorded at `rev` with today's rules; fetch nothing."""
    from .errors import UsageError
    from .evidence.record import committed_capture, committed_snapshot

    target = config.target(target_id)
    repo, sha = _recorded(snapshots, target.id, region, rev)
    store = SnapshotStore(snapshots)
    raw = committed_capture(repo, store, target.id, region, sha)
    if raw is None:
        raise UsageError(
            f"{target.id}/{region} has no raw capture at {rev} "
            "(recorded before captures were kept?)"
        )
    obs = reprocess(raw, target, region)
    snapshot = committed_snapshot(repo, store, target.id, region, sha)
    return Reextraction(sha, obs, snapshot is not None and snapshot.text == obs.text)


def show_recorded(
    snapshots: str | Path, target: str, region: str, rev: str, raw: bool, record: bool
) -> str:
    """A recorded snapshot at `rev`, its raw capture, or the capture's record."""
    from .errors import UsageError
    from .evidence.record import committed_capture, committed_snapshot

    repo, sha = _recorded(snapshots, target, region, rev)
    store = SnapshotStore(snapshots)
    if raw or record:
        page = committed_capture(repo, store, target, region, sha)
        if page is None:
            raise UsageError(f"{target}/{region} has no raw capture at {rev}")
        return page.record_text() if record else page.content
    snapshot = committed_snapshot(repo, store, target, region, sha)
    if snapshot is None:
        raise UsageError(f"{target}/{region} has no snapshot at {rev}")
    return snapshot.text
