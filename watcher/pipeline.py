"""One run of the job.

plan → fetch → verify → extract → normalize → compare → (confirm) → classify → record → notify

Fetching and the per-page work run in a bounded thread pool; recording is serial and in
plan order, so the history reads the same whatever the timing. One failing (target, region)
never stops the others: it becomes a result with its status and reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__, secrets
from .classify import Classification, alerting, classify, section_names
from .config import select
from .diff import Change, diff_snapshots, removed_added
from .errors import ExtractionError, FetchError, RegionMismatch, StoreError, WatcherError
from .extract import Document, extract_sections
from .fetch import Page
from .fetchers import Fetchers, skip_reason
from .models import Config, Region, Result, Target
from .normalize import render_markdown, sentences_of
from .notify import Delivery, change_alert, failure_alert, recovery_alert
from .state import RegionState
from .store import GitRepo, Snapshot, SnapshotStore, sha256
from .verify import check_status, verify_page

log = logging.getLogger("watcher")


@dataclass
class Observation:
    """What one fetch of a (target, region) yielded after verification and extraction."""

    text: str
    sentences: int
    page_chars: int
    matched: dict[str, list[str]]
    final_url: str
    input_key: str = ""  # what the text was made from; see input_key()
    reused: bool = False  # the input was the stored snapshot's own: nothing was processed


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "watcher_version": __version__,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            **self.extra,
        }


def process_page(
    content: str, content_type: str | None, url: str, target: Target, region: str, name: str = ""
) -> Observation:
    """Verify, extract and normalize one fetched (or saved) page. Raises WatcherError."""
    doc = Document.from_content(content, url, target.link_base, content_type, name)
    verify_page(doc, target, region)
    extraction = extract_sections(doc, target.extract)
    text = render_markdown(extraction, target.link_base)
    count = len(sentences_of(text))
    if count < target.extract.min_sentences:
        raise ExtractionError(
            f"section not found: only {count} sentences extracted, "
            f"min_sentences is {target.extract.min_sentences}"
        )
    return Observation(
        text=text,
        sentences=count,
        page_chars=len(doc.text),
        matched=extraction.matched,
        final_url=url,
    )


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """The code that turns a page into a snapshot: a new version of it re-processes pages."""
    digest = hashlib.sha256(__version__.encode())
    for module in ("extract", "normalize", "text", "verify"):
        digest.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return digest.hexdigest()


def input_key(page: Page, target: Target, region: str) -> str:
    """A fingerprint of everything a snapshot is made from: the page's bytes, where they came
    from, the target's rules and watcher's own code. Equal keys give equal snapshots."""
    digest = hashlib.sha256(_code_fingerprint().encode())
    for part in (repr(target), region, page.final_url, page.content_type):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(page.content.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def observe(
    fetchers: Fetchers,
    config: Config,
    target: Target,
    region: Region,
    known: Snapshot | None = None,
) -> Observation:
    """Fetch, verify, extract and normalize one (target, region). Raises WatcherError.

    When the page is byte for byte what `known` was made from (its `input` key), its text is
    reused without processing: an unchanged, stable page costs a fetch and a hash.
    """
    attempts = config.fetch.region_retries + 1
    for attempt in range(attempts):
        page = fetchers.fetch(target, region)
        check_status(page.status, page.final_url)
        key = input_key(page, target, region.code)
        if known is not None and known.meta.get("input") == key:
            return Observation(
                text=known.text,
                sentences=known.sentences,
                page_chars=int(known.meta.get("page_chars", 0)),
                matched=known.meta.get("matched", {}),
                final_url=page.final_url,
                input_key=key,
                reused=True,
            )
        try:
            observation = process_page(
                page.content, page.content_type, page.final_url, target, region.code
            )
            observation.input_key = key
            return observation
        except RegionMismatch:
            if attempt + 1 >= attempts:
                raise
            log.info("%s/%s: wrong region variant, fetching again", target.id, region.code)
            time.sleep(config.fetch.backoff * (attempt + 1))
    raise AssertionError("unreachable")


def assess(
    old: Snapshot | None,
    new: Observation,
    target: Target,
    config: Config,
) -> tuple[str, str | None, list[Change], Classification | None]:
    """Compare a new observation with the stored snapshot.

    Returns (status, reason, changes, classification) with status `unchanged`, `new`,
    `changed`, or `error` when the new text looks like a broken capture.
    """
    if old is None:
        return "new", None, [], None
    if old.text == new.text:
        return "unchanged", None, [], None
    reason = collapse_reason(old, new, target)
    if reason:
        return "error", reason, [], None
    changes = diff_snapshots(old.text, new.text)
    sections = (section_names(old.meta.get("matched")), section_names(new.matched))
    return (
        "changed",
        None,
        changes,
        classify(old.text, new.text, changes, config.categories, sections),
    )


def _status_of(exc: WatcherError) -> str:
    return getattr(exc, "status", "error")


def collapse_reason(old: Snapshot, new: Observation, target: Target) -> str | None:
    """Why a new observation looks like a broken capture rather than a real change."""
    limit = target.max_shrink
    old_chars = int(old.meta.get("page_chars", 0))
    if old_chars and new.page_chars < old_chars * (1 - limit):
        return (
            f"page collapsed from {old_chars} to {new.page_chars} characters of text "
            f"(more than {limit:.0%} gone: truncated or broken capture?); snapshot kept"
        )
    if old.sentences and new.sentences < old.sentences * (1 - limit):
        return (
            f"extraction shrank from {old.sentences} to {new.sentences} sentences "
            f"(more than {limit:.0%} gone: did a section rule stop matching?); snapshot kept"
        )
    return None


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
        obs = self.observation
        return Snapshot(
            obs.text,
            {
                "input": obs.input_key,
                "sentences": obs.sentences,
                "page_chars": obs.page_chars,
                "matched": obs.matched,
            },
        )


class Runner:
    def __init__(
        self,
        config: Config,
        snapshots: str | Path,
        *,
        commit: bool = True,
        notify: bool = True,
        now: Callable[[], datetime] | None = None,
    ):
        self.config = config
        self.store = SnapshotStore(snapshots)
        self.commit = commit
        self.notify = notify
        self.now = now or (lambda: datetime.now(UTC))
        self.repo: GitRepo | None = None
        self._states: dict[str, RegionState] = {}
        self._snapshots: dict[tuple[str, str], Snapshot] = {}  # as read before this run

    def run(
        self,
        targets: list[str] | None = None,
        regions: list[str] | None = None,
    ) -> RunReport:
        secrets.register_env()
        started = time.perf_counter()
        started_at = self.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
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
                    result.status, result.error = "skipped", reason
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
        batch: list[tuple[str, dict[str, bytes]]] = []
        recorded: list[Result] = []
        for item in pending:
            commit = self._record(item)
            if commit is not None:
                batch.append(commit)
                recorded.append(item.result)
        if batch and self.repo is not None:
            try:
                for result, sha in zip(recorded, self.repo.commit_many(batch), strict=True):
                    result.commit = sha
            except StoreError as exc:
                for result in recorded:
                    self._fail(result, exc)
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

    def drop_pending(self, regions: list[str]) -> int:
        """Discard the alerts waiting in these regions' outboxes (the drop is committed)."""
        dropped = 0
        for code in regions:
            dropped += len(self._state(code).outbox)
            self._state(code).outbox.clear()
        self._commit_states(regions, f"Drop {dropped} pending alerts")
        return dropped

    def _state(self, region: str) -> RegionState:
        if region not in self._states:
            self._states[region] = RegionState.load(self.store.root, region)
        return self._states[region]

    def _commit_states(self, regions: list[str], message: str) -> None:
        changed = [self._state(r).path for r in regions if self._state(r).save()]
        if changed and self.repo is not None:
            self.repo.commit(changed, message)

    def _track_failures(self, results: list[Result]) -> None:
        """Count failing runs per (target, region): one alert at the threshold, one on recovery.

        The count stops at the threshold, so a page that stays broken changes nothing and
        commits nothing run after run.
        """
        settings = self.config.alerts
        touched = set()
        for result in results:
            if result.status == "skipped":
                continue
            state = self._state(result.region)
            target = self.config.target(result.target)
            region = self.config.regions[result.region]
            streak = state.failures.get(result.target)
            if result.status in ("error", "blocked", "region_mismatch"):
                streak = streak or {"count": 0, "alerted": False}
                if not streak["alerted"]:
                    streak["count"] += 1
                    streak["status"], streak["reason"] = result.status, result.error
                    if streak["count"] >= settings.failure_threshold:
                        streak["alerted"] = True
                        state.outbox.append(
                            failure_alert(
                                target,
                                region,
                                streak["count"],
                                result.error or "",
                                result.status,
                                settings,
                            )
                        )
                state.failures[result.target] = streak
                touched.add(result.region)
            elif streak is not None:
                if streak.get("alerted"):
                    state.outbox.append(recovery_alert(target, region, settings))
                del state.failures[result.target]
                touched.add(result.region)
        self._commit_states(sorted(touched), "Update watcher state: failure streaks and alerts")

    def deliver(self, regions: list[str]) -> Delivery:
        """Send what waits in the outbox of these regions; record delivery in git."""
        from .notify import deliver, destinations

        states = [self._state(r) for r in regions]
        if not any(s.outbox for s in states):
            return Delivery()
        for state in states:
            for alert in state.outbox:
                if alert["kind"] == "change" and not alert.get("commit") and self.repo:
                    alert["commit"] = self.repo.first_commit_adding(alert["id"], state.path)
        dests = destinations(self.config.alerts)
        if not dests:
            log.warning("alerts are waiting but no notification URL is set (APPRISE_URLS)")
            return Delivery()
        delivery = Delivery()
        for state in states:
            part = deliver(state.outbox, dests, self.config.alerts, self.now())
            delivery.sent += part.sent
            delivery.failed += part.failed
            delivery.expired += part.expired
        self._commit_states(
            regions,
            f"Record alert delivery ({', '.join(regions)}): {len(delivery.sent)} sent, "
            f"{len(delivery.failed)} to retry",
        )
        return delivery

    def _observe(
        self,
        fetchers: Fetchers,
        target: Target,
        region: Region,
        first: Snapshot | None = None,
    ) -> Observation | WatcherError:
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
        except Exception as exc:  # a bug in one page's handling must not sink the run
            log.exception("%s/%s: internal error", target.id, region.code)
            return FetchError(f"internal error: {type(exc).__name__}: {exc}")

    def _fail(self, result: Result, exc: WatcherError) -> None:
        result.status = _status_of(exc)
        result.error = secrets.redact(str(exc))
        log.warning("%s/%s: %s: %s", result.target, result.region, result.status, result.error)

    def _compare(
        self, target: Target, region: Region, result: Result, outcome: Observation | WatcherError
    ) -> Pending | None:
        if isinstance(outcome, WatcherError):
            self._fail(result, outcome)
            return None
        result.sentences = outcome.sentences
        result.same_input = outcome.reused
        old = self._snapshots.get((target.id, region.code))
        status, reason, changes, classification = assess(old, outcome, target, self.config)
        if status == "unchanged":
            result.status = "unchanged"
            return None
        if status == "error":
            self._fail(result, ExtractionError(reason or "broken capture"))
            return None
        return Pending(target, region, result, outcome, changes, old, classification)

    def _confirm(self, item: Pending, second: Observation | WatcherError) -> bool:
        """A change counts only when a second fetch gives the same text."""
        result = item.result
        if isinstance(second, WatcherError):
            self._fail(result, second)
            result.error = f"change not confirmed: second fetch failed: {result.error}"
            return False
        if second.text == item.observation.text:
            return True
        if item.old is not None and second.text == item.old.text:
            result.status = "unchanged"
            result.events.append(
                "unconfirmed change: a second fetch matched the snapshot (flip-flopping variants?)"
            )
            return False
        result.status = "error"
        result.error = (
            "page unstable: two fetches a moment apart gave different texts; snapshot kept"
        )
        return False

    def _record(self, item: Pending) -> tuple[str, dict[str, bytes]] | None:
        """Write the snapshot (and feed, and outbox) files; return the commit to make: its
        message and the files' content as of this change."""
        from .feed import add_entry, feed_path
        from .render import render_html
        from .report import commit_message

        target, region, result, obs = item.target, item.region, item.result, item.observation
        result.status = "new" if item.old is None else "changed"
        result.removed, result.added = removed_added(item.changes)
        events = item.classification.events if item.classification else []
        if item.classification is not None:
            result.categories = item.classification.categories
            result.events += [e.text for e in events]
            result.alert = alerting(result.categories, self.config.alerts.categories)
        recorded_at = self.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
        meta = {
            "target": target.id,
            "region": region.code,
            "name": target.name,
            "url": target.url,
            "sha256": sha256(obs.text),
            "sentences": obs.sentences,
            "page_chars": obs.page_chars,
            "recorded_at": recorded_at,
            "matched": obs.matched,
            "input": obs.input_key,
        }
        message = commit_message(result, item.changes, target, region)
        try:
            paths = self.store.write(target.id, region.code, obs.text, meta)
            if result.status == "changed":
                feed = feed_path(self.store.root, region.code)
                md_path = paths[0]
                history = self.repo.relative(md_path) if self.repo is not None else str(md_path)
                add_entry(
                    feed,
                    region_name=region.name,
                    entry_id=f"urn:watcher:{target.id}:{region.code}:{meta['sha256'][:16]}",
                    title=message.splitlines()[0],
                    updated=recorded_at,
                    source_url=target.url,
                    categories=result.categories,
                    html=render_html(item.changes, events),
                    history_path=history,
                )
                paths.append(feed)
            if self.repo is not None:
                if result.alert:
                    # the alert enters the outbox in the same commit as its change
                    state = self._state(region.code)
                    state.outbox.append(
                        change_alert(
                            result,
                            item.changes,
                            events,
                            target,
                            region,
                            self.config.alerts,
                            meta["sha256"],
                        )
                    )
                    state.save()
                    paths.append(state.path)
                return message, {self.repo.relative(p): p.read_bytes() for p in paths}
        except (StoreError, OSError) as exc:
            self._fail(result, exc if isinstance(exc, StoreError) else StoreError(str(exc)))
        return None
