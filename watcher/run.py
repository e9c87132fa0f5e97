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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import alerts, env, secrets
from .classify import Classification, alerting
from .config import select
from .diff import Change, removed_added
from .errors import ExtractionError, StoreError, WatcherError
from .evidence.commits import commit_message
from .evidence.feed import add_entry, feed_path
from .evidence.git import GitRepo, NewCommit
from .evidence.outbox import Outbox, track_failures
from .evidence.store import Snapshot, SnapshotStore, dump_meta, sha256
from .fetch import Fetchers, skip_reason
from .models import Alert, Config, Region, Result, SnapshotMeta, Status, Streak, Target
from .notify import Delivery, deliver_pending
from .process import Observation, as_snapshot, assess, observe
from .render import render_html
from .report import RunReport

log = logging.getLogger("watcher")


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
    ):
        self.config = config
        self.store = SnapshotStore(snapshots)
        self.commit = commit
        self.notify = notify
        self.now = now or (lambda: datetime.now(UTC))
        self.github = github or env.github()
        self.repo: GitRepo | None = None
        self._states: dict[str, Outbox] = {}
        self._snapshots: dict[tuple[str, str], Snapshot] = {}  # as read before this run

    def run(
        self,
        targets: list[str] | None = None,
        regions: list[str] | None = None,
    ) -> RunReport:
        secrets.register_env()
        started = time.perf_counter()
        started_at = alerts.iso(self.now())
        if self.commit:
            self.open_repo()  # fails early: nothing fetched for nothing
        plan = select(self.config, targets, regions)
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
            for (target, region, result), future in zip(jobs, first, strict=True):
                outcome = future.result()
                item = self._compare(target, region, result, outcome)
                if item is not None:
                    if item.old is not None and self.config.fetch.confirm:
                        to_confirm.append(item)
                    else:
                        pending.append(item)
            # the second fetch reuses the first one's result when its bytes are the same
            second = [
                pool.submit(self._observe, fetchers, p.target, p.region, p.as_known())
                for p in to_confirm
            ]
            for item, future in zip(to_confirm, second, strict=True):
                if self._confirm(item, future.result()):
                    pending.append(item)
        order = {key: i for i, key in enumerate(results)}
        pending.sort(key=lambda p: order[(p.target.id, p.region.code)])
        self._record_all(pending)
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
    ) -> Observation | WatcherError | InternalError:
        try:
            if first is None:  # the first fetch: compare with the stored snapshot
                known = self.store.read(target.id, region.code)
                if known is not None:
                    self._snapshots[(target.id, region.code)] = known
            else:  # the confirming fetch: compare with the first one
                known = first
            return observe(fetchers, self.config, target, region, known)
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
        result.same_input = outcome.reused
        old = self._snapshots.get((target.id, region.code))
        status, reason, changes, classification = assess(old, outcome, target, self.config)
        if status == Status.UNCHANGED:
            result.status = Status.UNCHANGED
            return None
        if status == Status.ERROR:
            self._fail(result, ExtractionError(reason or "broken capture"))
            return None
        return Pending(target, region, result, outcome, changes, old, classification)

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

    def _record_all(self, pending: list[Pending]) -> None:
        """Commit every confirmed change, one commit each, then write the files.

        The commits are made first (git fast-import writes objects and moves the branch in
        one step, or not at all); only then are the working-tree files written. A run killed
        in between leaves HEAD right and the working tree behind, and the next run reads
        the snapshots as HEAD has them.
        """
        files: dict[Path, str] = {}  # the working tree to write, as of the last change
        batch: list[NewCommit] = []
        recorded: list[Result] = []
        for item in pending:
            try:
                changed = self._record(item, files)
            except (StoreError, OSError, ValueError) as exc:
                self._fail(
                    item.result, exc if isinstance(exc, StoreError) else StoreError(str(exc))
                )
                continue
            if self.repo is not None:
                batch.append(
                    NewCommit(
                        commit_message(item.result, item.changes, item.target, item.region),
                        {self.repo.relative(p): files[p].encode() for p in changed},
                    )
                )
                recorded.append(item.result)
        if self.repo is not None and batch:
            try:
                shas = self.repo.commit_many(batch)
            except StoreError as exc:
                for result in recorded:
                    self._fail(result, exc)
                for code in {r.region for r in recorded}:
                    self._states.pop(code, None)  # the queued alerts were not committed
                return
            for result, sha in zip(recorded, shas, strict=True):
                result.commit = sha
        from .evidence.store import atomic_write

        for path, text in files.items():
            atomic_write(path, text)
        for box in self._states.values():
            box.mark_saved()

    def _record(self, item: Pending, files: dict[Path, str]) -> list[Path]:
        """Fill `files` with this change's snapshot, metadata, feed and outbox as of it;
        return the paths this change touches."""
        target, region, result, obs = item.target, item.region, item.result, item.observation
        result.status = Status.NEW if item.old is None else Status.CHANGED
        result.removed, result.added = removed_added(item.changes)
        events = item.classification.events if item.classification else []
        if item.classification is not None:
            result.categories = item.classification.categories
            result.events += [e.text for e in events]
            result.alert = alerting(result.categories, self.config.alerts.categories)
        now = self.now()
        meta = SnapshotMeta(
            target=target.id,
            region=region.code,
            name=target.name,
            url=target.url,
            sha256=sha256(obs.text),
            sentences=obs.sentences,
            page_chars=obs.page_chars,
            recorded_at=alerts.iso(now),
            matched=obs.matched,
            input=obs.input_key,
        )
        md, meta_path = self.store.paths(target.id, region.code)
        files[md], files[meta_path] = obs.text, dump_meta(meta)
        paths = [md, meta_path]
        if result.status == Status.CHANGED:
            feed = feed_path(self.store.root, region.code)
            existing = files.get(feed)
            if existing is None and feed.exists():
                existing = feed.read_text(encoding="utf-8")
            repo_url = self.github.repository_url
            rel = self.repo.relative(md) if self.repo is not None else str(md)
            files[feed] = add_entry(
                existing,
                region_name=region.name,
                entry_id=f"urn:watcher:{target.id}:{region.code}:{meta.sha256[:16]}:{meta.recorded_at}",
                title=commit_message(result, item.changes, target, region).splitlines()[0],
                updated=meta.recorded_at,
                source_url=target.url,
                categories=result.categories,
                html=render_html(item.changes, events),
                link=f"{repo_url}/commits/{self.github.ref_name}/{rel}" if repo_url else None,
            )
            paths.append(feed)
        if self.repo is not None and result.alert:
            # the alert enters the outbox in the same commit as its change
            box = self._state(region.code)
            box.alerts.append(
                alerts.change_alert(
                    result,
                    item.changes,
                    events,
                    target,
                    region,
                    self.config.alerts,
                    meta.sha256,
                    now,
                )
            )
            files[box.path] = box.dump()
            paths.append(box.path)
        return paths


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
