"""Git plumbing for the evidence repository: commits with settable dates, in one
`git fast-import` for a batch, and the few queries the rest of watcher needs.

Nothing here knows what a snapshot or a commit message means (that is `commits.py`).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .. import env
from ..errors import StoreError
from ..secrets import redact


@dataclass(frozen=True)
class NewCommit:
    """One commit to make: its message, the files as of it, and optionally its dates
    (`<unix seconds> <+hhmm>`; the author date of an imported version is the archive's)."""

    message: str
    # a file's bytes, or the path of a spooled file holding them (a raw page waiting for
    # its commit on disk, not in memory: see evidence.record)
    files: dict[str, bytes | Path]
    author_date: str | None = None
    committer_date: str | None = None
    deleted: tuple[str, ...] = ()


def _quote_path(path: str) -> str:
    """A path as fast-import reads it (C-style quoting when it needs any)."""
    if any(c in path for c in '"\\\n') or path.startswith(" "):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return path


class GitRepo:
    """The git repository that holds the snapshots folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        probe = self.path if self.path.exists() else self.path.parent
        out = self._run(["rev-parse", "--show-toplevel"], cwd=probe, check=False)
        if out.returncode != 0:
            raise StoreError(
                f"{self.path} is not inside a git repository "
                "(run `git init`, or use --no-commit to write files only)"
            )
        self.top = Path(out.stdout.strip())
        self._top_resolved = self.top.resolve()
        self._folders: dict[Path, Path] = {}  # folder -> its resolved path (see relative)
        self._identity: list[str] | None = None

    @staticmethod
    def _run(
        args: list[str],
        cwd: Path,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        env_vars = env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, text=True, env=env_vars
        )
        if check and proc.returncode != 0:
            raise StoreError(f"git {args[0]} failed: {redact(proc.stderr.strip())}")
        return proc

    def git(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return self._run(list(args), self.top, input=input, check=check)

    def _identity_args(self) -> list[str]:
        """Commit as the configured user; fall back to a watcher identity on bare machines."""
        if self._identity is None:
            name = self.git("config", "user.name", check=False).stdout.strip()
            email = self.git("config", "user.email", check=False).stdout.strip()
            self._identity = []
            if not name:
                self._identity += ["-c", "user.name=watcher"]
            if not email:
                self._identity += ["-c", "user.email=watcher@users.noreply.github.com"]
        return self._identity

    def commit(self, paths: list[Path], message: str) -> str | None:
        """Commit exactly `paths` (other staged work is left alone). None when nothing changed."""
        rel = [str(Path(p).resolve().relative_to(self.top.resolve())) for p in paths]
        self.git("add", "--", *rel)
        done = self._run(
            [*self._identity_args(), "commit", "-q", "--no-verify", "-F", "-", "--", *rel],
            self.top,
            input=redact(message),
            check=False,
        )
        if done.returncode != 0:
            if "nothing" in done.stdout + done.stderr and "commit" in done.stdout + done.stderr:
                return None  # the files were already as committed
            raise StoreError(f"git commit failed: {redact(done.stderr.strip() or done.stdout)}")
        return self.git("rev-parse", "HEAD").stdout.strip()

    def branch(self) -> str | None:
        """The branch HEAD points at (refs/heads/…), or None when HEAD is detached."""
        out = self.git("symbolic-ref", "-q", "HEAD", check=False)
        return out.stdout.strip() or None

    def commit_many(self, commits: list[NewCommit]) -> list[str]:
        """Make one commit per `NewCommit` on the current branch, in order, with a single
        `git fast-import` (a few ms for dozens of commits, where a `git commit` each costs
        ~13 ms). The index is brought in line with the new HEAD for these paths only; the
        working tree is not touched, so the caller writes the files after this succeeds."""
        if not commits:
            return []
        branch = self.branch()
        ref = branch or "refs/watcher/detached"  # a detached HEAD is moved after the import
        parent = self.head()
        ident = self.git("var", "GIT_COMMITTER_IDENT", check=False).stdout.strip()
        if not ident:  # no identity configured: the watcher one, as for single commits
            ident = f"watcher <watcher@users.noreply.github.com> {int(time.time())} +0000"
        who, _, now = ident.rpartition(">")
        who += ">"
        with (
            tempfile.NamedTemporaryFile(prefix="watcher-marks-", delete=False) as marks,
            tempfile.TemporaryFile() as errors,
        ):
            marks_path = marks.name
            try:
                process = subprocess.Popen(
                    ["git", "fast-import", "--quiet", "--done", f"--export-marks={marks_path}"],
                    cwd=self.top,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
                )
                assert process.stdin is not None
                try:  # streamed commit by commit: a run's pages are never all in memory
                    for mark, commit in enumerate(commits, start=1):
                        process.stdin.write(_commit_head(commit, mark, ref, who, now, parent))
                        for rel, content in commit.files.items():
                            _write_file(process.stdin, rel, content)
                    process.stdin.write(b"done\n")
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # fast-import stopped: its error is read below
                except BaseException as exc:  # no `done`: fast-import moves no branch
                    process.kill()
                    process.wait()
                    with contextlib.suppress(OSError):
                        process.stdin.close()
                    if isinstance(exc, OSError):  # a spooled page could not be read
                        raise StoreError(f"commit not made: {exc}") from exc
                    raise
                returncode = process.wait()
                if returncode != 0:
                    errors.seek(0)
                    message = errors.read().decode(errors="replace").strip()
                    raise StoreError(f"git fast-import failed: {redact(message)}")
                shas = dict(line.split() for line in Path(marks_path).read_text().splitlines())
            finally:
                Path(marks_path).unlink(missing_ok=True)
        last = shas[f":{len(commits)}"]
        if branch is None:
            self.git("update-ref", "--no-deref", "HEAD", last)
            self.git("update-ref", "-d", ref)
        paths = sorted({rel for c in commits for rel in (*c.files, *c.deleted)})
        self.git("reset", "-q", "--", *paths)  # the index follows HEAD for these paths
        return [shas[f":{i}"] for i in range(1, len(commits) + 1)]

    def relative(self, path: Path) -> str:
        """`path` relative to the repository's top, symbolic links resolved. A run asks it
        of a thousand files in a few folders: each folder is resolved once."""
        path = Path(path)
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        full = folder / path.name
        if full.is_symlink():
            full = full.resolve()
        return str(full.relative_to(self._top_resolved))

    def first_commit_adding(self, text: str, path: Path) -> str | None:
        """The commit that first added `text` to `path` (git's pickaxe), if any."""
        rel = str(Path(path).resolve().relative_to(self.top.resolve()))
        out = self.git("log", "--reverse", "--format=%H", "-S", text, "--", rel, check=False)
        lines = out.stdout.split()
        return lines[0] if lines else None

    def git_path(self, name: str) -> Path:
        """A path inside the git directory (`.git/<name>`, or a worktree's own)."""
        out = self.git("rev-parse", "--git-path", name).stdout.strip()
        path = Path(out)
        return path if path.is_absolute() else self.top / path

    def show_bytes(self, rev: str, path: str) -> bytes | None:
        """A file's exact bytes at a revision (no newline translation), or None."""
        out = subprocess.run(
            ["git", "show", f"{rev}:{path}"],
            cwd=self.top,
            capture_output=True,
            env=env.subprocess_env(GIT_TERMINAL_PROMPT="0", LC_ALL="C"),
        )
        return out.stdout if out.returncode == 0 else None

    def head(self) -> str | None:
        out = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return out.stdout.strip() or None


def _commit_head(
    commit: NewCommit, mark: int, ref: str, who: str, now: str, parent: str | None
) -> bytes:
    data = redact(commit.message).encode()
    author = f"{who} {commit.author_date or now.strip()}"
    committer = f"{who} {commit.committer_date or now.strip()}"
    head = f"commit {ref}\nmark :{mark}\nauthor {author}\ncommitter {committer}\n".encode()
    head += f"data {len(data)}\n".encode() + data + b"\n"
    if mark == 1 and parent:
        head += f"from {parent}\n".encode()
    for rel in commit.deleted:
        head += f"D {_quote_path(rel)}\n".encode()
    return head


def _write_file(stream: IO[bytes], rel: str, content: bytes | Path) -> None:
    data = content.read_bytes() if isinstance(content, Path) else content
    stream.write(f"M 100644 inline {_quote_path(rel)}\ndata {len(data)}\n".encode())
    stream.write(data)
    stream.write(b"\n")
