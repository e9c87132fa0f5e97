"""One run at a time on a repository, and a safe way past a stale `index.lock`.

`RepoLock` holds an exclusive `flock` on `<git dir>/watcher.lock` for the whole of a run
or a delivery. A second run on the same repository waits up to `timeout` seconds, then
stops with `BusyError` (exit status 3) before fetching or sending anything: it never
commits or alerts twice. The lock lives in the git directory, so it is never committed,
and the kernel releases it when a killed process dies. The workflow's concurrency group
stays the first line of defence on GitHub Actions.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from ..errors import BusyError, StoreError
from .git import GitRepo

log = logging.getLogger("watcher")
POLL = 0.1
INDEX_LOCK_WAIT = 5.0  # a git command of someone else's finishing


class RepoLock:
    def __init__(self, repo: GitRepo, timeout: float = 60.0):
        self.path = repo.git_path("watcher.lock")
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> RepoLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise BusyError(
                        f"another watcher run holds {self.path} (waited {self.timeout:.0f} s); "
                        "nothing was fetched, committed or sent: try again when it has finished"
                    ) from None
                time.sleep(POLL)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def recover_index_lock(repo: GitRepo, run_started: float) -> bool:
    """Remove a `.git/index.lock` left by a killed git process; True when one was removed.

    Only called while holding `RepoLock`, so no other watcher run is using the index. A lock
    older than this run was left by a process that died (git removes its own on exit); a
    younger one belongs to someone else's git command, which gets a few seconds to finish.
    """
    lock = repo.git_path("index.lock")
    deadline = time.monotonic() + INDEX_LOCK_WAIT
    while lock.exists():
        try:
            age_ok = lock.stat().st_mtime < run_started
        except FileNotFoundError:
            return False
        if age_ok:
            lock.unlink(missing_ok=True)
            log.warning(
                "removed a stale %s left by an interrupted git command (older than this run)",
                _shown(lock, repo),
            )
            return True
        if time.monotonic() >= deadline:
            raise StoreError(
                f"{_shown(lock, repo)} is held by another git command; "
                "nothing was recorded: try again when it has finished"
            )
        time.sleep(POLL)
    return False


def _shown(path: Path, repo: GitRepo) -> str:
    try:
        return str(path.relative_to(repo.top))
    except ValueError:
        return str(path)
