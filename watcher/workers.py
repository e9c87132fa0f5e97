"""The pure, CPU-heavy part of a run, in worker processes: a page's stable digest, and its
verification, extraction and normalization.

A run fetches its pages in threads, but Python runs one thread at a time: masking a page
for its stable digest (a few ms) and processing it (tens of ms) kept one core busy while
the others idled. These steps are pure functions of a page's text and its target's rules,
so a run with many pages hands them to worker processes, and the run's own process only
fetches, compares and records.

A worker is `python -m watcher.workers`, started afresh (not forked: none of the run's
threads, locks or state is copied, and nothing re-runs the script that started the run),
with the run's environment minus its secrets. It reads requests on its stdin and writes
answers on its stdout, one at a time: a request names one of `TASKS` (never code) and
carries the page's text and the target's rules. No file, repository, lock or alert is
touched in a worker; every decision about the evidence stays in the run's process.

The answer is always the one the run's process would compute. A `WatcherError` raised in a
worker (a wall, a region mismatch, nothing extracted) is the page's answer, as it would be
here. Anything else (a worker killed, a value that cannot cross, a bug) is computed again in
the run's own process, which then gives the answer or raises the bug as a bug; a worker
that died is not replaced, and with none left the run computes everything itself.

`WATCHER_WORKERS` sets how many workers a run starts (0: none). By default a run of at least
`MIN_PAGES` pages starts one per core beyond the first, at most `MAX_WORKERS`; a smaller run
starts none, since starting one (importing watcher, about 0.3 s of CPU) costs more than it
saves.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from . import env
from .errors import WatcherError
from .models import Target
from .process import Observation, process_page, stable_basis_of
from .stable import stable_digest

log = logging.getLogger(__name__)

MIN_PAGES = 8
MAX_WORKERS = 4
# What a worker may be asked to compute: pure functions of their arguments.
TASKS: dict[str, Callable[..., Any]] = {
    "digest": stable_digest,
    "basis": stable_basis_of,
    "process": process_page,
}
_LENGTH = struct.Struct(">Q")


def cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def default_count(pages: int) -> int:
    """How many workers a run of `pages` (target, region) pairs starts."""
    chosen = env.worker_count()
    if chosen is not None:
        return chosen
    if pages < MIN_PAGES:
        return 0
    return max(0, min(cores() - 1, MAX_WORKERS))


def _frame(value: object) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _send(stream: IO[bytes], value: object) -> None:
    stream.write(_frame(value))
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes:
    """One message, whole (EOFError when the pipe closes before its end)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the pipe closed")
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe closed mid-message")
    return data


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """A worker's loop: one request in, one answer out, until its stdin closes."""
    while True:
        try:
            name, args = pickle.loads(_read_frame(requests))  # from the run that started it
        except EOFError:
            return
        try:
            answer: tuple[str, object] = ("ok", TASKS[name](*args))
        except Exception as exc:  # the page's answer (a WatcherError), or a bug: sent back
            answer = ("raised", exc)
        try:
            _send(answers, answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _send(answers, ("failed", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self) -> None:
        environ = env.without_secrets()
        # the very watcher this process runs, whatever the child's path would find first:
        # `-m` puts the working folder first on the path, so the worker starts in the folder
        # that holds this package (a worker reads no file by a relative path)
        package_root = str(Path(__file__).resolve().parent.parent)
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, environ.get("PYTHONPATH", "")) if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher.workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=package_root,
            env=environ,
        )

    def call(self, name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        """The worker's (status, value). OSError or EOFError: the worker is gone (or out of
        step), not to be used again; any other error leaves it ready for the next call."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            request = _frame((name, args))
        except Exception as exc:  # cannot cross: nothing was sent
            return "failed", f"the request cannot be sent: {type(exc).__name__}: {exc}"
        self.proc.stdin.write(request)
        self.proc.stdin.flush()
        data = _read_frame(self.proc.stdout)
        try:
            status, value = pickle.loads(data)  # from a worker this process started: trusted
        except Exception as exc:  # read whole, so the worker is still in step
            return "failed", f"the answer cannot be read: {type(exc).__name__}: {exc}"
        return status, value

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


class Workers:
    """Worker processes with the interface of `process.Offload`. With `count` 0, or once
    every worker has died, everything is computed in the calling thread, one at a time."""

    def __init__(self, count: int):
        self.count = count
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._alive = 0
        self._lock = threading.Lock()
        self._here = threading.Lock()  # computed here: one page at a time, as a run does
        for _ in range(count):
            try:
                self._idle.put(_Worker())
                self._alive += 1
            except OSError as exc:
                log.warning("could not start a worker process (%s); computing here", exc)
                break

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            alive, self._alive = self._alive, 0
        for _ in range(alive):
            try:
                self._idle.get(timeout=60).close()  # waits for a worker busy with a call
            except queue.Empty:
                break

    @property
    def active(self) -> bool:
        return self._alive > 0

    def pids(self) -> list[int]:
        """The process ids of the idle workers (all of them, between calls)."""
        return [w.proc.pid for w in list(self._idle.queue)]

    def digest(self, data: bytes, final_url: str, content_type: str | None) -> str:
        return self._call("digest", data, final_url, content_type)  # type: ignore[no-any-return]

    def basis(self, content: str, final_url: str, content_type: str | None) -> str:
        """The stable digest of a stored capture's text (see process.stable_basis)."""
        return self._call("basis", content, final_url, content_type)  # type: ignore[no-any-return]

    def process(
        self,
        content: str,
        content_type: str | None,
        url: str,
        target: Target,
        region: str,
        name: str = "",
    ) -> Observation:
        args = (content, content_type, url, target, region, name)
        return self._call("process", *args)  # type: ignore[no-any-return]

    def _call(self, name: str, *args: Any) -> Any:
        """In an idle worker; or here, when every worker is busy and this process is not
        computing one already (the run's process is one more worker); else in the first
        of them to be free."""
        while True:
            worker = self._take()
            if worker is not None:
                try:
                    status, value = worker.call(name, args)
                except (OSError, EOFError) as exc:
                    self._lost(worker, exc)
                    continue
                self._idle.put(worker)
                if status == "ok":
                    return value
                if status == "raised" and isinstance(value, WatcherError):
                    raise value  # the page's answer, as this process would give it
                log.debug("a worker could not compute %s (%r); computing it here", name, value)
                with self._here:
                    return TASKS[name](*args)
            if self._here.acquire(blocking=not self.active):
                try:
                    return TASKS[name](*args)
                finally:
                    self._here.release()
            try:  # all busy: wait a moment for a worker, then look again
                worker = self._idle.get(timeout=0.005)
            except queue.Empty:
                continue
            self._idle.put(worker)

    def _take(self) -> _Worker | None:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return None

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        log.warning("a worker process failed (%s: %s); not used again", type(exc).__name__, exc)
        worker.proc.kill()
        worker.close()
        with self._lock:
            self._alive -= 1


if __name__ == "__main__":  # a worker: python -m watcher.workers
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed by mistake can corrupt an answer
    serve(sys.stdin.buffer, answers)
