"""Profile one `watcher run` in-process: stage timers, or cProfile on every thread.

    python bench/profile_live.py --mode timers   --config C --snapshots S --out t.json
    python bench/profile_live.py --mode cprofile --config C --snapshots S --out p.json

The run is what `watcher run --config … --snapshots … --no-notify` does (the runner comes
from bench/adapter.py, the only module of the bench that imports watcher's internals).

- `timers`: the stage entry points named in adapter.STAGES are wrapped (where each module
  holds them) with a timer of the calling thread's CPU time (time.thread_time); a call made
  inside another entry counts for the outer one. A few hundred timed calls: the run keeps
  its speed, so this is the by-stage split to trust.
- `cprofile`: each thread (the main one and the pool's) gets its own cProfile.Profile timed
  by time.thread_time, merged at the end: per-function self and inclusive CPU time. Waits
  (sockets, locks, the GIL) are not counted. Deterministic profiling slows Python calls
  down, most where calls are many and small, so its shares lean towards such code.

git's processes are not in either: their CPU is reported from getrusage(RUSAGE_CHILDREN).
Writes one JSON file (and with --pstats the merged raw cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import inspect
import json
import os
import pkgutil
import pstats
import re
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import adapter

import watcher

PACKAGE = Path(watcher.__file__).resolve().parent


def label(key: tuple[str, int, str]) -> str:
    file, line, name = key
    if file == "~":  # a builtin: name is like "<method 'css' of '...' objects>"
        return name
    path = Path(file)
    try:
        rel = "watcher/" + str(path.resolve().relative_to(PACKAGE))
    except ValueError:
        parts = path.parts
        if "site-packages" in parts:
            rel = "/".join(parts[parts.index("site-packages") + 1 :])
        elif "lib" in parts:
            rel = "/".join(parts[-2:]) if parts[-2].startswith("python") else path.name
        else:
            rel = path.name
    return f"{name} ({rel}:{line})"


def stage_entries(stats: dict[Any, Any]) -> dict[tuple[str, int, str], str]:
    """The profiled functions that are stage entry points, with their stage."""
    found = {}
    for key in stats:
        file, _, name = key
        if file == "~":
            continue
        try:
            rel = str(Path(file).resolve().relative_to(PACKAGE))
        except ValueError:
            continue
        for entry in adapter.STAGES:
            if name in entry.names and re.search(entry.files, rel):
                found[key] = entry.stage
    return found


def entry_stage(code: Any) -> str | None:
    """The stage whose entry point this code object is, if any."""
    try:
        rel = str(Path(code.co_filename).resolve().relative_to(PACKAGE))
    except ValueError:
        return None
    for entry in adapter.STAGES:
        if code.co_name in entry.names and re.search(entry.files, rel):
            return entry.stage
    return None


class StageTimers:
    """Wraps every stage entry point where watcher's modules and classes hold it."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {e.stage: 0.0 for e in adapter.STAGES}
        self.calls: dict[str, int] = dict.fromkeys(self.cpu, 0)
        self.wrapped: dict[int, Any] = {}
        self.names: set[str] = set()
        self.lock = threading.Lock()
        self.local = threading.local()

    def wrap(self, fn: Any, stage: str) -> Any:
        if id(fn) in self.wrapped:
            return self.wrapped[id(fn)]

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(self.local, "inside", False):
                return fn(*args, **kwargs)
            self.local.inside = True
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                self.local.inside = False
                with self.lock:
                    self.cpu[stage] += spent
                    self.calls[stage] += 1

        self.wrapped[id(fn)] = timed
        self.names.add(f"{fn.__qualname__} ({fn.__module__}) -> {stage}")
        return timed

    def install(self) -> None:
        for info in pkgutil.walk_packages(watcher.__path__, "watcher."):
            if info.name.endswith("__main__"):  # importing it would run the CLI
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # an optional part (the browser) may not import here
                continue
        seen: set[int] = set()
        for name, module in list(sys.modules.items()):
            if not (name == "watcher" or name.startswith("watcher.")) or module is None:
                continue
            for attr, obj in list(vars(module).items()):
                if inspect.isfunction(obj):
                    stage = entry_stage(obj.__code__)
                    if stage:
                        setattr(module, attr, self.wrap(obj, stage))
                elif inspect.isclass(obj) and id(obj) not in seen:
                    seen.add(id(obj))
                    self._install_class(obj)

    def _install_class(self, cls: type) -> None:
        if not getattr(cls, "__module__", "").startswith("watcher"):
            return
        for attr, obj in list(vars(cls).items()):
            if inspect.isfunction(obj):
                stage = entry_stage(obj.__code__)
                if stage:
                    setattr(cls, attr, self.wrap(obj, stage))
            elif isinstance(obj, (classmethod, staticmethod)):
                stage = entry_stage(obj.__func__.__code__)
                if stage:
                    setattr(cls, attr, type(obj)(self.wrap(obj.__func__, stage)))


def run_timed(runner: Any) -> tuple[Any, dict[str, Any]]:
    """Run with stage timers; CPU of every thread from time.thread_time at its end."""
    timers = StageTimers()
    timers.install()
    thread_cpu: list[float] = []
    original_run = threading.Thread.run

    def counted_run(self: threading.Thread) -> None:
        try:
            original_run(self)
        finally:
            thread_cpu.append(time.thread_time())

    threading.Thread.run = counted_run  # type: ignore[method-assign]
    main0 = time.thread_time()
    try:
        report = runner.run()
    finally:
        threading.Thread.run = original_run  # type: ignore[method-assign]
    total = sum(thread_cpu) + time.thread_time() - main0
    stages = [
        {"stage": s, "cpu_s": t, "share": t / total if total else 0.0, "calls": timers.calls[s]}
        for s, t in timers.cpu.items()
    ]
    other = total - sum(timers.cpu.values())
    stages.append(
        {
            "stage": "other (thread pool, orchestration, report)",
            "cpu_s": other,
            "share": other / total if total else 0.0,
            "calls": 0,
        }
    )
    return report, {
        "threads_cpu_s": total,
        "threads": len(thread_cpu) + 1,
        "stages": stages,
        "entries_found": sorted(timers.names),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--snapshots", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pstats", help="also write the merged raw profile here")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--mode", choices=("timers", "cprofile"), default="cprofile")
    args = parser.parse_args()

    runner = adapter.make_runner(args.config, args.snapshots)
    if args.mode == "timers":
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall0 = time.perf_counter()
        report, timed = run_timed(runner)
        wall = time.perf_counter() - wall0
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        timed.update(
            mode="timers",
            layout=adapter.LAYOUT,
            wall_s=wall,
            process_cpu_s=(self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime),
            children_cpu_s=(kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime),
            peak_mb=self1.ru_maxrss / 1024,
            **adapter.summarize(report),
        )
        Path(args.out).write_text(json.dumps(timed, indent=1) + "\n")
        return
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(prof)
        prof.enable()
        try:
            original_run(self)
        finally:
            prof.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main_prof = cProfile.Profile(time.thread_time)
    profiles.append(main_prof)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    main_prof.enable()
    try:
        report = runner.run()
    finally:
        main_prof.disable()
        threading.Thread.run = original_run  # type: ignore[method-assign]
    wall = time.perf_counter() - wall0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)

    merged = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        merged.add(prof)
    if args.pstats:
        merged.dump_stats(args.pstats)
    raw: dict[Any, Any] = merged.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values())

    entries = stage_entries(raw)
    by_stage: dict[str, float] = {e.stage: 0.0 for e in adapter.STAGES}
    calls: dict[str, int] = dict.fromkeys(by_stage, 0)
    for key, stage in entries.items():
        _, nc, _, ct, callers = raw[key]
        # inclusive time, less what calls from another entry point brought (counted there)
        nested = sum(c[3] for caller, c in callers.items() if caller in entries)
        nested_calls = sum(c[0] for caller, c in callers.items() if caller in entries)
        by_stage[stage] += ct - nested
        calls[stage] += nc - nested_calls
    stages = [
        {"stage": s, "cpu_s": t, "share": t / total if total else 0.0, "calls": calls[s]}
        for s, t in by_stage.items()
    ]
    other = total - sum(by_stage.values())
    stages.append(
        {
            "stage": "other (thread pool, orchestration, report)",
            "cpu_s": other,
            "share": other / total if total else 0.0,
            "calls": 0,
        }
    )

    def top(index: int, only_watcher: bool = False) -> list[dict[str, Any]]:
        rows = sorted(raw.items(), key=lambda kv: -kv[1][index])
        out = []
        for key, (_, nc, tt, ct, _) in rows:
            name = label(key)
            if only_watcher and "(watcher/" not in name:
                continue
            out.append(
                {
                    "function": name,
                    "calls": nc,
                    "self_s": tt,
                    "inclusive_s": ct,
                    "self_share": tt / total if total else 0.0,
                    "inclusive_share": ct / total if total else 0.0,
                }
            )
            if len(out) >= args.top:
                break
        return out

    summary = adapter.summarize(report)
    data = {
        "mode": "cprofile",
        "layout": adapter.LAYOUT,
        "threads_profiled": len(profiles),
        "wall_s": wall,
        "profiled_cpu_s": total,
        "process_cpu_s": (self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime),
        "children_cpu_s": (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime),
        "peak_mb": self1.ru_maxrss / 1024,
        "pid": os.getpid(),
        "entries_found": sorted({f"{label(k)} -> {s}" for k, s in entries.items()}),
        "stages": stages,
        "top_self": top(2),
        "top_inclusive_watcher": top(3, only_watcher=True),
        **summary,
    }
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
