"""The parts of the crash, overlap and leak tests: the real `python -m watcher` in its own
process group, a `git` on PATH that kills that group before (or after) a chosen git verb,
an apprise json:// sink that can kill the sender when its POST arrives, and a small world
of real archived Meta pages with two changes waiting to be recorded and alerted.

Everything runs on 127.0.0.1 and in temporary folders; every wait is bounded.

Two models of where the evidence lives, as in the README:

* persistent: one checkout that every run reuses (`run`, or `run --no-notify` then
  `notify`);
* actions: a bare remote, and each job a fresh clone that runs `run --no-notify`,
  `scripts/push-with-retry`, then `notify --push-command scripts/push-with-retry`, as the
  scheduled workflow does. A job killed anywhere loses what it had not pushed.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:  # `from conftest import …` as the tests in tests/ do
    sys.path.insert(0, str(TESTS))


def _top_conftest() -> ModuleType:
    """tests/conftest.py, even when a conftest.py of tests/faults/ holds the name."""
    mod = sys.modules.get("conftest")
    if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve() == (
        TESTS / "conftest.py"
    ):
        return mod
    name = "watcher_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_c = _top_conftest()
fixture_text = _c.fixture_text
page_html = _c.page_html
policy_target = _c.policy_target
write_config = _c.write_config
git = _c.git
Response = _c.Response
RegionProxy = _c.RegionProxy

REAL_GIT = shutil.which("git") or "/usr/bin/git"
PUSH = ROOT / "scripts" / "push-with-retry"
PY = sys.executable
JOB_TIMEOUT = 120.0  # no job of these tests takes a tenth of it; past it, it is a hang

EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"
IE_C = "pages/fb-privacy-policy_EU-variant_vlopses-ie_2026-04-30.md"

# -- processes ------------------------------------------------------------------------------


@dataclass
class Done:
    """A finished process: how it ended, what it printed, what it cost."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    maxrss_mb: float  # the peak RSS of it or of any of its descendants, as sampled

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


class Proc:
    """A process started in its own process group (so a kill takes all of it, as a runner
    being stopped would), with its output in files (no pipe to fill)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.args = [str(a) for a in args]
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in wait)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.popen = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            start_new_session=True,
        )
        self.pid = self.popen.pid  # also its process group id
        self.peak_kb = 0
        self._sampling = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        """The peak RSS of the process and its descendants, from VmHWM every 20 ms: a
        child's own ru_maxrss starts at its parent's RSS at fork (pytest's, here)."""
        while not self._sampling.is_set():
            for pid in _tree(self.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            self._sampling.wait(0.02)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def poll(self) -> bool:
        """Has it ended? (Without reaping it: `wait` does, to read its resource usage.)"""
        if self.popen.returncode is not None:
            return True
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.pid, flags) is not None

    def wait(self, timeout: float = JOB_TIMEOUT) -> Done:
        deadline = time.monotonic() + timeout
        while True:
            pid, status, _ = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.kill()
                os.wait4(self.pid, 0)
                self._sampling.set()
                self.popen.returncode = -9
                raise AssertionError(f"hung: {' '.join(self.args)} ran past {timeout:.0f} s")
            time.sleep(0.01)
        seconds = time.monotonic() - self.started
        self._sampling.set()
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._drain_group()
        out, err = (self._read(f) for f in (self._out, self._err))
        return Done(self.args, self.popen.returncode, out, err, seconds, self.peak_kb / 1024)

    def _drain_group(self) -> None:
        """Wait (bounded) until nothing of the group is left: a killed job's git children
        die with it, and a later step must not race them."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            time.sleep(0.01)
        raise AssertionError(f"processes of {' '.join(self.args)} outlived it by 10 s")

    @staticmethod
    def _read(handle: Any) -> str:
        handle.seek(0)
        text: str = handle.read().decode("utf-8", "replace")
        handle.close()
        return text


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux: /proc/<pid>/task/<pid>/children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        todo += [int(c) for c in children.split()]
    return out


def run_proc(args: list[str], cwd: Path, env: dict[str, str], timeout: float = JOB_TIMEOUT) -> Done:
    return Proc(args, cwd, env).wait(timeout)


def free_port() -> int:
    """A port nothing listens on (a dead notification URL)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- crash points ---------------------------------------------------------------------------

GIT_WRAPPER = r"""#!/bin/sh
# A git that kills its caller's whole process group at a chosen call of a chosen verb.
# CRASH_VERB, CRASH_N (the N-th call of that verb), CRASH_WHEN (before | after),
# CRASH_COUNT (counter file), CRASH_LOG (every call: start, verb, end, status).
verb=
skip=
for a do
  if [ -n "$skip" ]; then skip=; continue; fi
  case $a in
    -c|-C) skip=1 ;;
    -*) ;;
    *) verb=$a; break ;;
  esac
done
log() { [ -n "$CRASH_LOG" ] && echo "$(date +%s.%N) $*" >> "$CRASH_LOG"; return 0; }
die() {
  log "KILL $CRASH_WHEN $verb#$n"
  pg=$(cut -d' ' -f5 /proc/$$/stat)
  kill -9 "-$pg"
  exit 137
}
n=0
if [ -n "$CRASH_VERB" ] && [ "$verb" = "$CRASH_VERB" ]; then
  n=$(( $(cat "$CRASH_COUNT" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$CRASH_COUNT"
  if [ "$n" = "$CRASH_N" ] && [ "$CRASH_WHEN" = before ]; then die; fi
fi
log "start $verb"
"$CRASH_GIT" "$@"
rc=$?
log "end $verb $rc"
if [ "$n" = "$CRASH_N" ] && [ "$CRASH_WHEN" = after ]; then die; fi
exit $rc
"""


@dataclass(frozen=True)
class Point:
    """Where to kill: before/after the n-th `git <verb>` of a job, at the sink's n-th POST
    (`verb="post"`), or in the n-th call of a --push-command hook (`verb="hook"`)."""

    verb: str
    n: int = 1
    when: str = "before"

    def __str__(self) -> str:
        return (
            f"{self.when} {self.verb}#{self.n}"
            if self.verb not in ("post", "hook")
            else (f"in {self.verb}#{self.n}")
        )


def install_git_wrapper(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "git"
    path.write_text(GIT_WRAPPER)
    path.chmod(0o755)
    return bin_dir


def read_log(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        stamp, _, what = line.partition(" ")
        out.append((float(stamp), what))
    return out


# -- an apprise json:// receiver that can kill the sender -----------------------------------


class Sink:
    """Receives apprise's json:// posts. Armed with a process group, it kills that group
    when its n-th POST arrives: after storing it and before answering (the send happened,
    the sender never learns it), or just after answering (`reply_first`)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0  # seconds before each answer: a sender holds its lock that long
        self.kill_pgid: int | None = None
        self.kill_on = 0
        self.reply_first = False
        self.killed = threading.Event()
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw}
                sink.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body,
                     "at": time.time()}
                )  # fmt: skip
                kill = sink.kill_pgid is not None and len(sink.posts) == sink.kill_on
                if kill and not sink.reply_first:
                    sink._kill()
                    self.close_connection = True
                    return
                data = b"{}"
                time.sleep(sink.delay)
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                if kill:
                    sink._kill()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def _kill(self) -> None:
        assert self.kill_pgid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.kill_pgid, signal.SIGKILL)
        self.killed.set()

    def arm(self, pgid: int, nth: int = 1, reply_first: bool = False) -> None:
        self.kill_on = len(self.posts) + nth
        self.reply_first = reply_first
        self.kill_pgid = pgid

    def disarm(self) -> None:
        self.kill_pgid = None

    def url(self, secret: str = "s3cr3tT0ken") -> str:
        return f"json://hook:{secret}@127.0.0.1:{self.port}/notify/{secret}"

    def texts(self) -> list[str]:
        return [f"{p['body'].get('title', '')}\n{p['body'].get('message', '')}" for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the world: two pages, recorded once, each with a change waiting ------------------------


@dataclass(frozen=True)
class Change:
    target: str
    path: str  # on the origin
    old: str  # page body served for the first record
    new: str  # page body that makes the change
    title: str  # how its alert starts: "<name> (EU):"


def _changes() -> list[Change]:
    return [
        Change(
            "facebook-privacy-policy",
            "/crash/policy",
            fixture_text(EU_A),
            fixture_text(EU_B),
            "Meta Privacy Policy (EU):",
        ),
        Change(
            "facebook-privacy-policy-ie",
            "/crash/ie",
            fixture_text(EU_B),
            page_html(IE_C),
            "Meta Privacy Policy, Irish copy (EU):",
        ),
    ]


_CODE: list[Path] = []


def code_snapshot() -> Path:
    """A copy of the watcher package, taken once per test session, that every job
    imports (PYTHONPATH comes before the editable install): jobs of one session run the
    same code even while the working tree is being edited."""
    if not _CODE:
        base = Path(tempfile.mkdtemp(prefix="watcher-code-"))
        atexit.register(shutil.rmtree, base, True)
        shutil.copytree(
            ROOT / "watcher", base / "watcher", ignore=shutil.ignore_patterns("__pycache__")
        )
        _CODE.append(base)
    return _CODE[0]


def base_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a job: this one without secrets or Actions variables, the
    session's copy of watcher, git's wrapper first on PATH, fast pushes."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WATCHER_", "GITHUB_", "CRASH_"))
        and k not in ("APPRISE_URLS", "PYTEST_CURRENT_TEST")
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        PYTHONPATH=str(code_snapshot()),
        CRASH_GIT=REAL_GIT,
        PUSH_BACKOFF="0",
        PUSH_ATTEMPTS="3",
        GIT_TERMINAL_PROMPT="0",
    )
    env.update(extra)
    return env


def new_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    _identity(root)
    (root / "README.md").write_text("evidence\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "Start")
    (root / "snapshots").mkdir()
    return root


def _identity(root: Path) -> None:
    git(root, "config", "user.name", "Test Runner")
    git(root, "config", "user.email", "runner@example.invalid")
    git(root, "config", "commit.gpgsign", "false")


class World:
    """A template repository with both pages' first records, built once per session and
    copied for each trial; the origin then serves the new versions."""

    _cache: ClassVar[dict[tuple[int, int], World]] = {}

    def __init__(self, base: Path, origin: Any, proxy_url: str):
        self.base = base
        self.origin = origin
        self.proxy_url = proxy_url
        self.changes = _changes()
        self.bin = install_git_wrapper(base / "bin")
        targets = [
            policy_target(origin.url(self.changes[0].path), regions=["eu"]),
            policy_target(
                origin.url(self.changes[1].path),
                regions=["eu"],
                id=self.changes[1].target,
                name="Meta Privacy Policy, Irish copy",
            ),
        ]
        self.config = write_config(base / "targets.yaml", targets)
        self.template = new_repo(base / "template")
        self.serve("old")
        done = run_proc(
            [PY, "-m", "watcher", "run", "--no-notify", "--json", *self.args(self.template)],
            self.template,
            self.env(),
        )
        assert done.returncode == 0, done.stderr
        assert [r["status"] for r in done.json()["results"]] == ["new", "new"], done.stdout
        self.expected: dict[str, str] = {}  # target: the snapshot its new page makes
        self.seconds: dict[str, float] = {}  # model: how long a clean job takes
        self.recording: dict[str, float] = {}  # model: when in it the recording starts
        self.window: dict[str, float] = {}  # model: intent durable -> POST received

    @classmethod
    def get(cls, origin: Any, proxies: dict[str, Any], factory: Any) -> World:
        key = (origin.port, proxies["eu"].port)
        if key not in cls._cache:
            cls._cache[key] = cls(factory.mktemp("crashworld"), origin, proxies["eu"].url)
        world = cls._cache[key]
        world.serve("new")
        return world

    def clean(self, model: str, tmp: Path) -> float:
        """A job of this model with nothing killed, once per session: it gives the texts
        every trial must end with, and how long the job takes (for the random kills)."""
        if model not in self.seconds:
            trial = Trial(self, model, tmp / model)
            try:
                done = trial.job()
                assert done.returncode == 0, done.stderr
                for change in self.changes:
                    text = trial.show(f"snapshots/{change.target}/eu.md")
                    assert text is not None
                    assert self.expected.setdefault(change.target, text) == text
                verdict = trial.verdict()
                assert verdict.problems == [], verdict.problems
                assert set(verdict.commits.values()) == {1} == set(verdict.alerts.values())
                self.seconds[model] = done.seconds
                starts = [t for t, what in trial.git_log(1) if what == "start fast-import"]
                self.recording[model] = starts[0] - trial.started_wall[0]
                # the intent of the sends is durable: committed, or (actions) pushed
                verb, n = ("push", 2) if model == "actions" else ("commit", 1)
                ends = [t for t, what in trial.git_log(1) if what == f"end {verb} 0"]
                self.window[model] = trial.sink.posts[0]["at"] - ends[n - 1]
            finally:
                trial.close()
        return self.seconds[model]

    def serve(self, which: str, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        """Serve the old or the new pages, each response `delay` seconds late, and with a
        `gate`, held until it opens (20 s at most)."""
        for change in self.changes:
            body = change.old if which == "old" else change.new
            self.origin.route(change.path, _handler(body, delay, gate))

    def args(self, repo: Path | None = None) -> list[str]:
        snapshots = str(repo / "snapshots") if repo is not None else "snapshots"
        return ["--config", str(self.config), "--snapshots", snapshots]

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(self.bin, WATCHER_PROXY_EU=self.proxy_url, **extra)


def _handler(body: str, delay: float, gate: threading.Event | None) -> Any:
    data = body.encode("utf-8")

    def handler(req: dict[str, Any]) -> Any:
        if req.get("region") != "eu":
            return Response(404, "<h1>No variant</h1>")
        if gate is not None:
            gate.wait(20)
        if delay:
            time.sleep(delay)
        return Response(body=data)

    return handler


# -- one trial: a copy of the world, a job killed somewhere, recovery, the verdict ---------

MODELS = ("persistent", "split", "actions")

PERSISTENT_JOB = """#!/bin/sh
exec "$PY" -m watcher run --json $ARGS >"$OUT/run.json"
"""
SPLIT_JOB = """#!/bin/sh
"$PY" -m watcher run --no-notify --json $ARGS >"$OUT/run.json" || exit 1
exec "$PY" -m watcher notify $ARGS $NOTIFY_EXTRA
"""
# the scheduled workflow: Watch; Push (even when Watch failed); Send alerts (only when both
# succeeded)
ACTIONS_JOB = """#!/bin/sh
fail=
"$PY" -m watcher run --no-notify --json $ARGS >"$OUT/run.json" || fail=1
"$PUSH" || fail=1
[ -z "$fail" ] || exit 1
exec "$PY" -m watcher notify $ARGS --push-command "$PUSH"
"""

HOOK = """#!/bin/sh
# a --push-command that kills the job on its n-th call (n in $HOOK_KILL_AT)
n=$(( $(cat "$HOOK_COUNT" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$HOOK_COUNT"
if [ "$n" = "$HOOK_KILL_AT" ]; then kill -9 "-$(cut -d' ' -f5 /proc/$$/stat)"; fi
exit 0
"""


@dataclass
class Verdict:
    """What a trial left: per change, its commits and its alerts; and the state."""

    commits: dict[str, int]
    alerts: dict[str, int]
    first_records: dict[str, int]
    feed_ids: list[str]
    fsck: str
    problems: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # delivered, yet left in the outbox

    def row(self) -> str:
        c = "/".join(str(v) for v in self.commits.values())
        a = "/".join(str(v) for v in self.alerts.values())
        return f"commits {c}  alerts {a}" + (f"  PROBLEMS {self.problems}" if self.problems else "")


class Trial:
    def __init__(self, world: World, model: str, tmp: Path):
        assert model in MODELS
        self.world = world
        self.model = model
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.sink = Sink()
        self.jobs = 0
        self.done: list[Done] = []
        self.started_wall: list[float] = []
        if model == "actions":
            self.remote = tmp / "remote.git"
            git(tmp, "clone", "-q", "--bare", str(world.template), str(self.remote))
            self.repo = self.remote
        else:
            self.repo = tmp / "evidence"
            shutil.copytree(world.template, self.repo, symlinks=True)
        self.hook = tmp / "hook"
        self.hook.write_text(HOOK)
        self.hook.chmod(0o755)

    def close(self) -> None:
        self.sink.close()

    # -- jobs

    def _workdir(self) -> Path:
        if self.model != "actions":
            return self.repo
        clone = self.tmp / f"job{self.jobs}"
        git(self.tmp, "clone", "-q", str(self.remote), str(clone))
        _identity(clone)
        return clone

    def start(self, point: Point | None = None, hook: bool = False) -> Proc:
        """Start one job of this model (in a fresh clone for actions), armed to die at
        `point`."""
        self.jobs += 1
        work = self._workdir()
        out = self.tmp / f"out{self.jobs}"
        out.mkdir()
        script = {"persistent": PERSISTENT_JOB, "split": SPLIT_JOB, "actions": ACTIONS_JOB}
        job = out / "job"
        job.write_text(script[self.model])
        job.chmod(0o755)
        repo_arg = work if self.model != "actions" else None
        extra = {
            "PY": PY,
            "OUT": str(out),
            "ARGS": " ".join(self.world.args(repo_arg)),
            "PUSH": str(PUSH),
            "APPRISE_URLS": self.sink.url(),
            "CRASH_LOG": str(out / "git.log"),
            "NOTIFY_EXTRA": "",
        }
        if point is not None and point.verb == "hook":
            extra["NOTIFY_EXTRA"] = f"--push-command {self.hook}"
            extra["HOOK_COUNT"] = str(out / "hook.count")
            extra["HOOK_KILL_AT"] = str(point.n)
        elif hook:
            extra["NOTIFY_EXTRA"] = f"--push-command {self.hook}"
            extra["HOOK_COUNT"] = str(out / "hook.count")
            extra["HOOK_KILL_AT"] = "0"
        if point is not None and point.verb not in ("post", "hook"):
            extra.update(
                CRASH_VERB=point.verb,
                CRASH_N=str(point.n),
                CRASH_WHEN=point.when,
                CRASH_COUNT=str(out / "crash.count"),
            )
        proc = Proc([str(job)], work, self.world.env(**extra))
        self.started_wall.append(proc.started_wall)
        if point is not None and point.verb == "post":
            self.sink.arm(proc.pid, point.n)
        return proc

    def job(self, point: Point | None = None, hook: bool = False) -> Done:
        done = self.start(point, hook).wait()
        self.sink.disarm()
        self.done.append(done)
        return done

    def out(self, n: int) -> Path:
        return self.tmp / f"out{n}"

    def run_json(self, n: int) -> dict[str, Any] | None:
        path = self.out(n) / "run.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data

    def git_log(self, n: int) -> list[tuple[float, str]]:
        return read_log(self.out(n) / "git.log")

    # -- verdict

    def history(self) -> list[dict[str, str]]:
        """Every commit on main (the remote's, in the actions model), with its trailers."""
        raw = git(self.repo, "log", "main", "--format=%H%x1f%s%x1f%(trailers:only,unfold)%x1e")
        out = []
        for record in raw.split("\x1e"):
            if not record.strip():
                continue
            sha, subject, trailers = record.strip("\n").split("\x1f")
            info = {"sha": sha, "subject": subject}
            for line in trailers.splitlines():
                key, _, value = line.partition(": ")
                info[key] = value
            out.append(info)
        return out

    def verdict(self) -> Verdict:
        log = self.history()
        names = [c.target for c in self.world.changes]
        commits = {
            t: sum(
                1 for c in log if c.get("Watcher-Target") == t and c.get("Watcher-Kind") == "change"
            )
            for t in names
        }
        firsts = {
            t: sum(
                1 for c in log if c.get("Watcher-Target") == t and c.get("Watcher-Kind") == "first"
            )
            for t in names
        }
        texts = self.sink.texts()
        alerts = {c.target: sum(1 for t in texts if c.title in t) for c in self.world.changes}
        fsck = subprocess.run(
            [REAL_GIT, "fsck", "--no-progress", "--strict"],
            cwd=self.repo,
            capture_output=True,
            text=True,
        )
        problems = []
        report = fsck.stdout + fsck.stderr
        if fsck.returncode != 0 or any(
            w in report for w in ("error", "missing", "broken", "corrupt")
        ):
            problems.append(f"git fsck: {report.strip()}")
        feed = self.show("snapshots/feeds/eu.xml") or ""
        import re

        ids = re.findall(r"<id>(urn:watcher:(?!feed:)[^<]*)</id>", feed)
        for change in self.world.changes:
            committed = self.show(f"snapshots/{change.target}/eu.md")
            want = self.world.expected.get(change.target)
            if want is not None and committed != want:
                problems.append(f"{change.target}: the committed snapshot is not the new text")
        box = json.loads(self.show("snapshots/.watcher/eu.json") or "{}")
        waiting = [a for a in box.get("outbox", []) if a["sending"] or not a["delivered"]]
        if waiting:
            problems.append(f"alerts still waiting: {[a['title'] for a in waiting]}")
        settled = [a["title"] for a in box.get("outbox", []) if a not in waiting]
        if self.model != "actions":
            status = git(self.repo, "status", "--porcelain", "--untracked-files=all", "--", ".")
            tracked = [line for line in status.splitlines() if not line.startswith("??")]
            if tracked:
                problems.append(f"working tree differs from HEAD: {tracked}")
            for change in self.world.changes:
                md = self.repo / "snapshots" / change.target / "eu.md"
                if md.read_text(encoding="utf-8") != self.show(f"snapshots/{change.target}/eu.md"):
                    problems.append(f"{change.target}: snapshot file differs from HEAD")
            if (self.repo / ".git" / "index.lock").exists():
                problems.append("an index.lock was left behind")
        return Verdict(commits, alerts, firsts, ids, report.strip(), problems, settled)

    def show(self, path: str) -> str | None:
        done = subprocess.run(
            [REAL_GIT, "show", f"main:{path}"], cwd=self.repo, capture_output=True, text=True
        )
        return done.stdout if done.returncode == 0 else None

    def leftovers(self) -> list[str]:
        """Untracked files a killed run left in the snapshots folder (temporary files of
        an interrupted atomic write)."""
        if self.model == "actions":
            return []
        status = git(self.repo, "status", "--porcelain", "--untracked-files=all", "--", ".")
        return [line[3:] for line in status.splitlines() if line.startswith("??")]


@dataclass
class Tally:
    """Trials per family and how they ended, for the report printed at the end."""

    rows: list[tuple[str, str, Verdict, float, float]] = field(default_factory=list)

    def add(self, family: str, label: str, verdict: Verdict, seconds: float, mb: float) -> None:
        self.rows.append((family, label, verdict, seconds, mb))

    def table(self) -> str:
        lines = []
        families: dict[str, list[tuple[str, str, Verdict, float, float]]] = {}
        for row in self.rows:
            families.setdefault(row[0], []).append(row)
        lines.append("family | trials | alerts per change 0/1/2+ | commits per change 0/1/2+ "
                     "| trial s (sum) | peak MB")  # fmt: skip
        for family, rows in families.items():
            alerts = [0, 0, 0]
            commits = [0, 0, 0]
            for _, _, v, _, _ in rows:
                for n in v.alerts.values():
                    alerts[min(n, 2)] += 1
                for n in v.commits.values():
                    commits[min(n, 2)] += 1
            wall = sum(r[3] for r in rows)
            peak = max(r[4] for r in rows)
            lines.append(
                f"{family} | {len(rows)} | {'/'.join(map(str, alerts))} | "
                f"{'/'.join(map(str, commits))} | {wall:.1f} | {peak:.0f}"
            )
        return "\n".join(lines)


def print_table(config: Any, title: str, lines: list[str]) -> None:
    """Print a table at the end of a module, past pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not lines:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(title)
        for line in lines:
            reporter.write_line(line)
