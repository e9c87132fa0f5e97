"""Two real watcher processes on one repository at the same moment, made to truly overlap:
the origin holds its answers (a gate) until the other process has been waiting a while,
or, with a short --lock-timeout, until it has given up; a sink slow to answer does the
same for two notifies. One runs, the other waits for the repository lock (or exits 3
saying so, having fetched, committed and sent nothing).
Never two commits for one change, never two alerts, no duplicate feed entry, JSON printed
by every run that ran, no `index.lock` crash. 15 pairs, five kinds in turn."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crashkit as ck
import pytest
from crashkit import Trial, World

HOLD = 0.8  # seconds the first run is held once it fetches (it holds the lock all along)
PAIRS = 15
BUSY = "busy: another watcher run holds"
NOTHING_DONE = "nothing was fetched, committed or sent"
ROWS: list[str] = []


@pytest.fixture
def world(origin, proxies, tmp_path_factory) -> Iterator[World]:
    world = World.get(origin, proxies, tmp_path_factory)
    yield world
    world.serve("new")


@pytest.fixture(scope="module", autouse=True)
def _table(request) -> Iterator[None]:
    yield
    ck.print_table(request.config, "overlapping pairs (tests/faults/test_overlap.py)", ROWS)


@dataclass(frozen=True)
class Kind:
    name: str
    first: tuple[str, ...]
    second: tuple[str, ...]
    before: tuple[str, ...] = ()  # run alone before the pair
    after: tuple[str, ...] = ()  # run alone after the pair
    short: bool = False  # a lock timeout shorter than the other's run: one exits 3


RUN = ("run", "--json")
KINDS = [
    Kind("run + run", RUN, RUN),
    Kind("run + run, short lock timeout", RUN, RUN, short=True),
    Kind("run --no-notify + notify", ("run", "--json", "--no-notify"), ("notify",),
         after=("notify",)),
    Kind("notify + notify", ("notify",), ("notify",), before=("run", "--json", "--no-notify")),
    Kind("run + notify", RUN, ("notify",)),
]  # fmt: skip


def _watcher(trial: Trial, args: tuple[str, ...], timeout: float | None) -> ck.Proc:
    extra = ["--lock-timeout", str(timeout)] if timeout is not None else []
    return ck.Proc(
        [ck.PY, "-m", "watcher", *args, *trial.world.args(trial.repo), *extra],
        trial.repo,
        trial.world.env(APPRISE_URLS=trial.sink.url()),
    )


def _pair(world: World, kind: Kind, tmp: Path) -> list[str]:
    """One pair on a fresh copy of the repository; what went wrong, if anything."""
    trial = Trial(world, "persistent", tmp)
    wrong: list[str] = []
    try:
        if kind.before:
            done = _watcher(trial, kind.before, None).wait()
            assert done.returncode == 0, done.stderr
        hits = len(world.origin.requests)
        timeout = 0.3 if kind.short else None
        gate = threading.Event()
        world.serve("new", gate=gate)
        trial.sink.delay = HOLD if kind.first == kind.second == ("notify",) else 0.0
        started = time.monotonic()
        procs = [_watcher(trial, kind.first, timeout), _watcher(trial, kind.second, timeout)]
        deadline = started + 20
        # the gate opens HOLD s after the first fetch, or (short timeout) once one gave up
        while time.monotonic() < deadline and not any(p.poll() for p in procs):
            if not kind.short and len(world.origin.requests) > hits:
                time.sleep(HOLD)
                break
            time.sleep(0.01)
        gate.set()
        done = [p.wait() for p in procs]
        wall = time.monotonic() - started
        world.serve("new")
        fetched = len(world.origin.requests) - hits
        for d in done:
            if "index.lock" in d.stderr or "internal error" in d.stderr or "Traceback" in d.stderr:
                wrong.append(f"{d.args[3]}: {d.stderr[-1500:]}")
        codes = sorted(d.returncode for d in done)
        busy = [d for d in done if d.returncode == 3]
        if kind.short:
            if codes != [0, 3]:
                wrong.append(f"exit statuses {codes}, expected one 0 and one 3")
            for d in busy:
                if BUSY not in d.stderr or NOTHING_DONE not in d.stderr:
                    wrong.append(f"exit 3 without the message: {d.stderr!r}")
                if d.stdout.strip():
                    wrong.append(f"a run that did nothing printed {d.stdout[:200]!r}")
            if fetched != 2 * len(world.changes):  # each page fetched twice (the confirmation)
                wrong.append(f"{fetched} fetches: the one that waited fetched too")
        elif codes != [0, 0]:
            wrong.append(f"exit statuses {codes}: {[d.stderr[-800:] for d in done]}")
        runs = [d for d in done if d.args[3] == "run" and d.returncode == 0]
        statuses = []
        for d in runs:
            try:
                statuses.append([r["status"] for r in d.json()["results"]])
            except ValueError:
                wrong.append(f"a run that ran printed no JSON: {d.stdout[:300]!r}")
        if kind.first == kind.second == RUN and not kind.short:
            changed = ["changed"] * len(world.changes)
            if sorted(statuses) != sorted([changed, ["unchanged"] * len(world.changes)]):
                wrong.append(f"statuses {statuses}: the change was not recorded by one run only")
        if kind.after:
            last = _watcher(trial, kind.after, None).wait()
            if last.returncode != 0:
                wrong.append(f"the notify after the pair exited {last.returncode}")
        verdict = trial.verdict()
        wrong += verdict.problems
        wrong += [f"{t}: {n} commits" for t, n in verdict.commits.items() if n != 1]
        wrong += [f"{t}: {n} alerts" for t, n in verdict.alerts.items() if n != 1]
        if len(verdict.feed_ids) != len(set(verdict.feed_ids)) or len(verdict.feed_ids) != 2:
            wrong.append(f"feed ids {verdict.feed_ids}")
        took = "/".join(f"{d.seconds:.1f}" for d in done)
        peak = max(d.maxrss_mb for d in done)
        ROWS.append(
            f"{kind.name:30} exits {codes}  {verdict.row()}  feed ids {len(verdict.feed_ids)}"
            f"  took {took} s  pair {wall:.1f} s  peak {peak:.0f} MB"
        )
        return wrong
    finally:
        trial.close()


def test_overlapping_pairs_never_commit_or_alert_twice(world, tmp_path):
    failures = {}
    for i in range(PAIRS):
        kind = KINDS[i % len(KINDS)]
        wrong = _pair(world, kind, tmp_path / f"pair{i}")
        if wrong:
            failures[f"pair {i} ({kind.name})"] = wrong
    assert not failures, failures


def test_a_run_that_cannot_get_the_lock_says_so_and_touches_nothing(world, tmp_path):
    """While a slow run holds the repository, a second one with a short timeout exits 3
    with the message, fetches nothing and prints no JSON; the first is unaffected."""
    trial = Trial(world, "persistent", tmp_path)
    try:
        base = len(world.origin.requests)
        gate = threading.Event()
        world.serve("new", gate=gate)  # the holder waits at its first fetch, lock held
        holder = _watcher(trial, RUN, None)
        deadline = time.monotonic() + 30
        while len(world.origin.requests) == base and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        busy = _watcher(trial, RUN, 0.2).wait()
        waited = time.monotonic() - started
        gate.set()
        first = holder.wait()
        assert busy.returncode == 3, busy.stderr
        assert BUSY in busy.stderr and NOTHING_DONE in busy.stderr
        assert busy.stdout == ""
        assert 0.2 <= waited < 10
        assert first.returncode == 0, first.stderr
        assert [r["status"] for r in first.json()["results"]] == ["changed", "changed"]
        assert len(world.origin.requests) - base == 2 * len(world.changes)  # the holder's
        verdict = trial.verdict()
        assert verdict.problems == []
        assert set(verdict.commits.values()) == {1} == set(verdict.alerts.values())
    finally:
        trial.close()
