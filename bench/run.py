"""Benchmark watcher against urlwatch 2.29 and the fetch+parse floor on real Meta pages.

    .venv/bin/python bench/run.py              # everything: N = 300, medians of 3 (~4 min)
    .venv/bin/python bench/run.py --quick      # a fast look: N = 60, one run of each
    .venv/bin/python bench/run.py --check      # only the live-like rewriting check
    .venv/bin/python bench/run.py --scenarios live,first --repeat 5

Scenarios (see bench/README.md): `live` (live-like unchanged: every fetch has other bytes,
the same text), `first` (empty snapshots), `unchanged` (byte-identical pages), `changed`
(10% of the pages changed, byte-identical otherwise). All traffic stays on 127.0.0.1.
No network except, on first use, `pip install urlwatch==2.29` (and py-spy for --profile)
into bench/.work/venv. Writes bench/results/latest.md, latest.json and profile-live.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
VENV = WORK / "venv"
URLWATCH_VERSION = "2.29"
PY = Path(sys.executable)
WATCHER = PY.parent / "watcher"
PRINTABLE = "https://mbasic.facebook.com/privacy/policy/printable/"
POLICY_TARGET = "facebook-privacy-policy"
EU_MARKERS = ["Meta Platforms Ireland Limited", "Irish Data Protection Commission"]
SCENARIOS = ("live", "first", "unchanged", "changed", "update")
SCENARIO_LABEL = {
    "live": "live-like unchanged",
    "first": "first run",
    "unchanged": "byte-identical unchanged",
    "changed": "10% changed",
    "update": "after an update",
}
SCENARIO_NOTE = {
    "live": "every fetch other bytes (tokens, CDN hosts, classes, nonce), same text",
    "first": "empty snapshots, live-like pages: every page recorded and committed",
    "unchanged": "the bytes the snapshots were made from: watcher skips each page by hash",
    "changed": "1 page in 10 has one sentence reworded, the others byte-identical",
    "update": (
        "live-like pages, and every target's rules changed (one more phrase, which matches "
        "nothing): watcher reads each stored capture again, once, and notes it in one commit; "
        "urlwatch has nothing to redo (its row is its ordinary live-like run)"
    ),
}
# what the page server does in each scenario: (live-like rewriting, changed variant)
SERVER_MODE = {
    "live": (True, False),
    "first": (True, False),
    "unchanged": (False, False),
    "changed": (False, True),
    "update": (True, False),
}
TOOLS = ("watcher", "urlwatch")
# urlwatch's job filter: the element watcher also starts from, then html2text's default
# method ("re": every tag stripped by a regex), so it keeps the text of all of #root and no
# link targets, class names or other attributes.
URLWATCH_FILTER: list[Any] = [{"css": "#root"}, "html2text"]
RUN_TIMEOUT_S = 300  # a child running longer is killed: the benchmark always stops
# PYTHONDONTWRITEBYTECODE would make every start compile from source: installed tools cache it.
DROP_ENV = (
    "APPRISE_URLS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ACTIONS",
    "CI",
    "PYTHONDONTWRITEBYTECODE",
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environment


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WATCHER_PROXY_") and "proxy" not in k.lower() and k not in DROP_ENV
    }
    xdg = WORK / "xdg"
    env.update(
        XDG_CONFIG_HOME=str(xdg / "config"),
        XDG_CACHE_HOME=str(xdg / "cache"),
        XDG_DATA_HOME=str(xdg / "data"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_PROXY="127.0.0.1,localhost",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def ensure_bench_venv(extra: tuple[str, ...] = ()) -> Path:
    """urlwatch (and profilers) in their own virtualenv under bench/.work: never in .venv."""
    python = VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {VENV.relative_to(ROOT)}")
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    urlwatch = VENV / "bin" / "urlwatch"
    wanted = []
    version = ""
    if urlwatch.exists():
        version = subprocess.run(
            [str(urlwatch), "--version"], capture_output=True, text=True, env=child_env()
        ).stdout.strip()
    if version != f"urlwatch {URLWATCH_VERSION}":
        wanted.append(f"urlwatch=={URLWATCH_VERSION}")
    for package in extra:
        if not (VENV / "bin" / package).exists():
            wanted.append(package)
    if wanted:
        log(f"pip install {' '.join(wanted)} into {VENV.relative_to(ROOT)}")
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *wanted,
            ],
            check=True,
        )
    return VENV / "bin"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "nproc": int(nproc) if nproc.isdigit() else len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
    }


class Source:
    """Where the measured watcher comes from: the working tree (the default), or one commit.

    With `--rev REV`, watcher/, tests/, targets.yaml and the bench's page helpers that import
    watcher (bench/pages.py, bench/micro.py) are exported as committed at REV into
    bench/.work/src/<sha>, this working tree's own bench scripts (server, livelike, floor,
    profile_live, adapter) are copied beside them, and every child runs with PYTHONPATH set
    to the export: `.venv/bin/watcher` then imports that watcher, whatever the working tree
    holds (it may be mid-edit). The results name the commit.
    """

    SCRIPTS = ("server.py", "livelike.py", "floor.py", "profile_live.py", "adapter.py")
    EXPORTED = ("watcher", "tests", "targets.yaml", "bench/pages.py", "bench/micro.py")

    def __init__(self) -> None:
        self.rev: str | None = None
        self.sha = ""
        self.root = ROOT  # targets.yaml and tests/ of the measured watcher
        self.code = BENCH  # the bench scripts the children run

    def pin(self, rev: str, env: dict[str, str]) -> None:
        self.sha = git(ROOT, "rev-parse", "--verify", f"{rev}^{{commit}}")
        self.rev = rev
        self.root = WORK / "src" / self.sha[:12]
        self.code = self.root / "bench"
        if not (self.root / "watcher").is_dir():
            log(f"exporting {rev} ({self.sha[:12]}) into {self.root.relative_to(ROOT)}")
            tmp = self.root.with_name(self.root.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            archive = subprocess.run(
                ["git", "archive", "--format=tar", self.sha, *self.EXPORTED],
                cwd=ROOT,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
            tmp.rename(self.root)
        for name in self.SCRIPTS:
            shutil.copyfile(BENCH / name, self.code / name)
        env["PYTHONPATH"] = str(self.root)

    def state(self, env: dict[str, str]) -> dict[str, Any]:
        """Which watcher was measured: the commit, and whether watcher/ had uncommitted
        edits (never, for an exported commit)."""

        def out(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()

        version = subprocess.run(
            [str(WATCHER), "--version"], capture_output=True, text=True, env=env
        ).stdout.strip()
        if self.rev is not None:
            return {
                "commit": self.sha[:7],
                "watcher_tree": out("rev-parse", "--short", f"{self.sha}:watcher"),
                "uncommitted_watcher_changes": False,
                "watcher_version": version,
                "exported_rev": self.rev,
                "exported_to": str(self.root.relative_to(ROOT)),
            }
        dirty = out("status", "--porcelain", "--", "watcher")
        return {
            "commit": out("rev-parse", "--short", "HEAD"),
            "watcher_tree": out("rev-parse", "--short", "HEAD:watcher"),
            "uncommitted_watcher_changes": bool(dirty),
            "watcher_version": version,
        }


SOURCE = Source()


def source_state(env: dict[str, str] | None = None) -> dict[str, Any]:
    return SOURCE.state(env if env is not None else child_env())


def same_watcher(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same committed watcher/ sources (commits that touch other files do not count)."""
    keys = ("watcher_tree", "uncommitted_watcher_changes")
    return all(a.get(k) == b.get(k) for k in keys) and not a["uncommitted_watcher_changes"]


def describe(state: dict[str, Any]) -> str:
    dirty = " + uncommitted changes in watcher/" if state["uncommitted_watcher_changes"] else ""
    tree = f" (watcher/ tree {state['watcher_tree']})" if state.get("watcher_tree") else ""
    pinned = (
        f", exported from git (`--rev {state['exported_rev']}`) into {state['exported_to']}"
        if state.get("exported_rev")
        else ""
    )
    return f"{state['watcher_version']} at commit {state['commit']}{tree}{dirty}{pinned}"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------- measuring


def measure(
    cmd: list[str], cwd: Path, out: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT_S
) -> dict[str, Any]:
    """Run `cmd` to completion: wall time, CPU (user+sys) and peak RSS of its process tree.

    os.wait4 gives the child's rusage including every descendant it waited for (git, for
    watcher); ru_maxrss is the largest RSS of any one process in that tree. A child still
    running after `timeout` seconds is killed with its process group (rc -9).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=stdout, stderr=stderr, env=env, start_new_session=True
        )

        def kill() -> None:
            log(f"WARNING: {Path(cmd[0]).name} ran over {timeout:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "rc": proc.returncode,
    }


def median_of(samples: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(s[key] for s in samples))


class Server:
    """bench/server.py in its own process, so it shares neither GIL nor rusage with the tools."""

    def __init__(self, env: dict[str, str], seed: int = 0):
        self.proc = subprocess.Popen(
            [str(PY), str(SOURCE.code / "server.py"), "--seed", str(seed)],
            cwd=SOURCE.code,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("bench: the page server did not start (see its error above)")
        self.info = json.loads(line)
        self.base = f"http://127.0.0.1:{self.info['port']}"

    def ctl(self, command: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/_ctl/{command}", timeout=10) as response:
            return dict(json.loads(response.read()))

    def mode(self, live: bool, changed: bool) -> None:
        self.ctl(f"live/{int(live)}")
        self.ctl(f"changed/{int(changed)}")
        self.ctl("reset")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- the two tools


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo_template(path: Path) -> Path:
    """A fresh git repository with an empty snapshots folder, like a fresh fork."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Bench Runner")
    git(path, "config", "user.email", "bench@example.invalid")
    git(path, "config", "commit.gpgsign", "false")
    (path / "README.md").write_text("evidence\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "Start")
    (path / "snapshots").mkdir()
    return path


def copy_tree(src: Path, dst: Path) -> None:
    """A copy of a state folder. A git repository's index is refreshed in the copy (not
    measured): copied files have new inodes, so without it the tool's first `git status`
    would hash every file again, which a run in a checkout (a CI clone, or the folder the
    last run left) never does."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    if (dst / ".git").is_dir():
        subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=dst, check=False)


def copy_file(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    if src.exists():
        shutil.copyfile(src, dst)


class Setup:
    """Config files and state folders for one N."""

    def __init__(self, n: int, base_url: str, template: Path, name: str | None = None):
        import yaml

        self.n = n
        self.dir = WORK / "runs" / (name or f"n{n}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.template = template
        shipped = yaml.safe_load((SOURCE.root / "targets.yaml").read_text())
        policy = next(t for t in shipped["targets"] if t["id"] == POLICY_TARGET)
        # The shipped policy target, copied N times; everything else as shipped.
        targets = [
            {
                **policy,
                "id": f"page-{i:03d}",
                "name": f"Meta Privacy Policy, copy {i}",
                "url": f"{base_url}/p/{i}",
                "base_url": PRINTABLE,
                "regions": ["us"],
                # The archived copies are the EU variant; labelling its markers as the `us`
                # region's keeps the region check (and its cost) in the run, and passing.
                "markers": {"us": EU_MARKERS},
            }
            for i in range(n)
        ]
        config = {**{k: v for k, v in shipped.items() if k != "targets"}, "targets": targets}
        self.watcher_config = self.dir / "targets.yaml"
        self.watcher_config.write_text(json.dumps(config, indent=1))  # JSON is YAML
        # the same targets after an update of their rules: one more phrase, found nowhere,
        # so every stored capture is read again and gives its snapshot's text
        wider = [
            {
                **t,
                "extract": {
                    **t["extract"],
                    "phrases": [*t["extract"].get("phrases", []), r"\bno such words here\b"],
                },
            }
            for t in targets
        ]
        self.updated_config = self.dir / "targets-updated.yaml"
        self.updated_config.write_text(json.dumps({**config, "targets": wider}, indent=1))
        uw = self.dir / "urlwatch"
        uw.mkdir()
        self.urls = uw / "urls.yaml"
        self.urls.write_text(
            "---\n".join(
                json.dumps(
                    {"name": f"page-{i:03d}", "url": f"{base_url}/p/{i}", "filter": URLWATCH_FILTER}
                )
                + "\n"
                for i in range(n)
            )
        )
        self.urlwatch_config = uw / "urlwatch.yaml"
        self.urlwatch_config.write_text(
            json.dumps({"report": {"stdout": {"enabled": True, "color": False}}}) + "\n"
        )
        self.hooks = uw / "hooks.py"
        self.hooks.write_text("")
        self.out = self.dir / "out"
        self.out.mkdir()

    def repo(self, name: str) -> Path:
        return self.dir / f"repo-{name}"

    def cache(self, name: str) -> Path:
        return self.dir / f"cache-{name}.db"


def watcher_cmd(setup: Setup, repo: Path, config: Path | None = None) -> list[str]:
    """The run the benchmark measures (and profiles)."""
    return [
        str(WATCHER),
        "run",
        "--config",
        str(config or setup.watcher_config),
        "--snapshots",
        str(repo / "snapshots"),
        "--json",
        "--no-notify",
    ]


def run_watcher(
    setup: Setup, repo: Path, tag: str, env: dict[str, str], config: Path | None = None
) -> dict[str, Any]:
    cmd = watcher_cmd(setup, repo, config)
    out = setup.out / f"watcher-{tag}.json"
    m = measure(cmd, repo, out, env)
    try:
        report = json.loads(out.read_text())
        statuses = Counter(r["status"] for r in report["results"])
        reused = sum(bool(r.get("same_input")) for r in report["results"])
        stable = sum(bool(r.get("same_stable_form")) for r in report["results"])
    except (ValueError, KeyError):
        statuses, reused, stable = Counter({"unreadable output": 1}), 0, 0
    m["statuses"] = dict(statuses)
    m["changes"] = statuses.get("new", 0) + statuses.get("changed", 0)
    m["reused"] = reused
    m["stable"] = stable  # pages skipped by their stable form (other bytes, same form)
    return m


_UW_LINE = re.compile(r"^\d+\. (NEW|CHANGED|ERROR|UNCHANGED): ", re.M)


def run_urlwatch(
    setup: Setup, cache: Path, tag: str, env: dict[str, str], bindir: Path
) -> dict[str, Any]:
    cmd = [
        str(bindir / "urlwatch"),
        "--urls",
        str(setup.urls),
        "--config",
        str(setup.urlwatch_config),
        "--hooks",
        str(setup.hooks),
        "--cache",
        str(cache),
    ]
    out = setup.out / f"urlwatch-{tag}.txt"
    m = measure(cmd, setup.dir, out, env)
    statuses = Counter(v.lower() for v in _UW_LINE.findall(out.read_text(errors="replace")))
    m["statuses"] = dict(statuses)
    m["changes"] = statuses.get("new", 0) + statuses.get("changed", 0)
    return m


def expected(n: int, scenario: str) -> tuple[int, int | None]:
    """(changes, watcher's same-input reuses) a correct run of the scenario reports."""
    changed = (n + 9) // 10
    return {
        "live": (0, 0),
        "first": (n, 0),
        "unchanged": (0, n),
        "changed": (changed, n - changed),
        "update": (0, 0),
    }[scenario]


def run_floor(
    n: int, threads: int, server: Server, env: dict[str, str], tag: str
) -> dict[str, Any]:
    cmd = [str(PY), str(SOURCE.code / "floor.py"), "--base-url", server.base, "-n", str(n)]
    cmd += ["--threads", str(threads)]
    out = WORK / "runs" / "floor" / f"floor-{n}-{threads}-{tag}.json"
    m = measure(cmd, SOURCE.code, out, env)
    m.update(json.loads(out.read_text()))
    return m


def bench_size(
    n: int,
    scenarios: list[str],
    repeat: int,
    server: Server,
    template: Path,
    env: dict[str, str],
    bindir: Path,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every scenario for both tools and the floor, interleaved: each repetition runs each
    (scenario, tool) once, tools in alternating order, every run from the same state."""
    setup = Setup(n, server.base, template)
    log(f"N={n}: baseline (first run of each tool on byte-identical pages, not measured)")
    server.mode(live=False, changed=False)
    copy_tree(template, setup.repo("base"))
    base = run_watcher(setup, setup.repo("base"), "baseline", env)
    uw = run_urlwatch(setup, setup.cache("base"), "baseline", env, bindir)
    if base["changes"] != n or uw["changes"] != n:
        raise SystemExit(f"bench: the baseline runs failed (see {setup.out})")

    samples: dict[tuple[str, str], list[dict[str, Any]]] = {
        (s, t): [] for s in scenarios for t in TOOLS
    }
    floor_samples: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def one(scenario: str, tool: str, r: int) -> None:
        repo, cache = setup.repo("work"), setup.cache("work")
        if scenario == "first":  # a fresh repository, a fresh cache
            if tool == "watcher":
                copy_tree(template, repo)
            else:
                cache.unlink(missing_ok=True)
        elif tool == "watcher":
            copy_tree(setup.repo("base"), repo)
        else:
            copy_file(setup.cache("base"), cache)
        server.mode(*SERVER_MODE[scenario])
        tag = f"{scenario}-{r}"
        load = loadavg()
        if tool == "watcher":
            updated = setup.updated_config if scenario == "update" else None
            m = run_watcher(setup, repo, tag, env, updated)
        else:
            m = run_urlwatch(setup, cache, tag, env, bindir)
        stats = server.ctl("stats")
        m["requests"] = stats["requests"]
        m["server_rewrite_s"] = stats["rewrite_s"]
        m["server_cpu_s"] = stats["cpu_s"]
        m["load1"] = load[0] if load else None
        samples[(scenario, tool)].append(m)
        reused = f", {m['reused']} reused" if tool == "watcher" else ""
        log(
            f"N={n} {scenario:9} {tool:8} #{r + 1}: {m['wall_s']:.2f} s wall, "
            f"{m['cpu_s']:.2f} s CPU, {m['peak_mb']:.0f} MB, {m['changes']} changes{reused}, "
            f"{m['requests']} requests, rc {m['rc']}"
        )

    def floor(mode: str, r: int) -> None:
        for threads in (1, 4):
            server.mode(live=mode == "live", changed=False)
            m = run_floor(n, threads, server, env, f"{mode}-{r}")
            stats = server.ctl("stats")
            m["server_rewrite_s"] = stats["rewrite_s"]
            m["server_cpu_s"] = stats["cpu_s"]
            floor_samples.setdefault((mode, threads), []).append(m)
            log(
                f"N={n} floor {mode:9} {threads} thread{'s' if threads > 1 else ''} "
                f"#{r + 1}: {m['wall_s']:.2f} s wall, {m['cpu_s']:.2f} s CPU, "
                f"{m['peak_mb']:.0f} MB"
            )

    for r in range(repeat):
        done: set[str] = set()
        for scenario in scenarios:
            for tool in TOOLS if r % 2 == 0 else TOOLS[::-1]:
                one(scenario, tool, r)
            mode = floor_mode(scenario)
            if mode not in done:
                floor(mode, r)
                done.add(mode)

    rows = []
    for (scenario, tool), runs in samples.items():
        want_changes, want_reused = expected(n, scenario)
        ok = all(s["rc"] == 0 and s["changes"] == want_changes for s in runs)
        if tool == "watcher":
            ok = ok and all(s["reused"] == want_reused for s in runs)
        row = {
            "pages": n,
            "scenario": scenario,
            "tool": tool,
            "runs": len(runs),
            "wall_s": median_of(runs, "wall_s"),
            "wall_min_s": min(s["wall_s"] for s in runs),
            "wall_max_s": max(s["wall_s"] for s in runs),
            "cpu_s": median_of(runs, "cpu_s"),
            "peak_mb": median_of(runs, "peak_mb"),
            "peak_max_mb": max(s["peak_mb"] for s in runs),
            "changes": median_of(runs, "changes"),
            "requests": median_of(runs, "requests"),
            "server_rewrite_s": median_of(runs, "server_rewrite_s"),
            "server_cpu_s": median_of(runs, "server_cpu_s"),
            "expected_changes": want_changes,
            "ok": ok,
            "samples": runs,
        }
        if tool == "watcher":
            row["reused"] = median_of(runs, "reused")
            row["expected_reused"] = want_reused
            row["stable"] = median_of(runs, "stable") if all("stable" in r for r in runs) else 0
        if not ok:
            log(f"WARNING: N={n} {scenario} {tool}: not the expected outcome, see {setup.out}")
        rows.append(row)
    floors = []
    for (mode, threads), runs in floor_samples.items():
        floors.append(
            {
                "pages": n,
                "mode": mode,
                "threads": threads,
                "runs": len(runs),
                "wall_s": median_of(runs, "wall_s"),
                "wall_min_s": min(s["wall_s"] for s in runs),
                "wall_max_s": max(s["wall_s"] for s in runs),
                "cpu_s": median_of(runs, "cpu_s"),
                "peak_mb": median_of(runs, "peak_mb"),
                "loop_s": median_of(runs, "loop_s"),
                "import_s": median_of(runs, "import_s"),
                "fetch_s": median_of(runs, "fetch_s") if threads == 1 else None,
                "parse_s": median_of(runs, "parse_s") if threads == 1 else None,
                "server_rewrite_s": median_of(runs, "server_rewrite_s"),
                "bytes": runs[0]["bytes"],
                "samples": runs,
            }
        )
    return rows, floors


def floor_mode(scenario: str) -> str:
    """The floor a scenario is compared with: live-like pages or byte-identical ones."""
    return "live" if SERVER_MODE[scenario][0] else "identical"


# --------------------------------------------------------------------------- start-up, micro


def bench_startup(repeat: int, env: dict[str, str], bindir: Path) -> list[dict[str, Any]]:
    commands = {
        "python -c pass (interpreter alone)": [str(PY), "-c", "pass"],
        "watcher --help": [str(WATCHER), "--help"],
        "watcher validate (shipped targets.yaml)": [
            str(WATCHER),
            "validate",
            "--config",
            str(SOURCE.root / "targets.yaml"),
        ],
        "urlwatch --help (for comparison)": [str(bindir / "urlwatch"), "--help"],
    }
    rows = []
    out = WORK / "runs" / "startup" / "out.txt"
    for name, cmd in commands.items():
        measure(cmd, ROOT, out, env)  # warm-up (bytecode cache)
        runs = [measure(cmd, ROOT, out, env) for _ in range(repeat)]
        if any(r["rc"] != 0 for r in runs):
            log(f"WARNING: {name} exited with {runs[0]['rc']}")
        rows.append(
            {
                "command": name,
                "runs": repeat,
                "wall_s": median_of(runs, "wall_s"),
                "cpu_s": median_of(runs, "cpu_s"),
                "peak_mb": median_of(runs, "peak_mb"),
            }
        )
        log(f"start-up {name}: {rows[-1]['wall_s'] * 1000:.0f} ms")
    return rows


def bench_micro(iterations: int, env: dict[str, str]) -> list[dict[str, Any]]:
    out = WORK / "runs" / "micro.json"
    cmd = [str(PY), str(SOURCE.code / "micro.py"), "--iterations", str(iterations)]
    m = measure(cmd, SOURCE.code, out, env)
    if m["rc"] != 0:
        log(f"WARNING: micro.py failed:\n{out.with_suffix('.err').read_text()[-2000:]}")
        return []
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    for row in rows:
        log(f"extract+normalize {row['page']}: {row['median_ms']['total']:.1f} ms median")
    return rows


# --------------------------------------------------------------------------- --check


def run_check(server: Server, template: Path, env: dict[str, str], bindir: Path) -> dict[str, Any]:
    """The live-like rewriting is faithful, page by page and end to end.

    1. bench/livelike.py: every served page (and its changed variant) rebuilds from its
       template byte for byte; two rewritten copies differ from it and from each other, parse
       to the same tags and text, with classes (markup and CSS) mapped one-to-one; and the
       original and both copies give byte-identical snapshot text through `watcher extract`.
    2. End to end over the sources (one URL each): after a first run on byte-identical pages,
       a live-like run of `watcher run` reports every page unchanged, none reused by hash
       (each was processed), no commit and no file changed; urlwatch reports no change.
    """
    t0 = time.perf_counter()
    out = WORK / "runs" / "check" / "livelike.json"
    cmd = [str(PY), str(SOURCE.code / "livelike.py"), "--watcher", str(WATCHER)]
    cmd += ["--config", str(SOURCE.root / "targets.yaml")]
    m = measure(cmd, SOURCE.code, out, env)
    try:
        unit = json.loads(out.read_text())
    except ValueError:
        err = out.with_suffix(".err").read_text()[-2000:]
        unit = {"ok": False, "failures": [f"livelike.py failed (rc {m['rc']}): {err}"]}
    failures = list(unit["failures"])

    n = len(server.info["sources"])
    setup = Setup(n, server.base, template, name="check")
    repo, cache = setup.repo("check"), setup.cache("check")
    copy_tree(template, repo)
    server.mode(live=False, changed=False)
    first_w = run_watcher(setup, repo, "check-first", env)
    first_u = run_urlwatch(setup, cache, "check-first", env, bindir)
    head = git(repo, "rev-parse", "HEAD")
    server.mode(live=True, changed=False)
    live_w = run_watcher(setup, repo, "check-live", env)
    live_u = run_urlwatch(setup, cache, "check-live", env, bindir)
    requests = server.ctl("stats")["requests"]
    server.mode(live=False, changed=False)
    e2e = {
        "pages": n,
        "first": {"watcher": first_w["statuses"], "urlwatch": first_u["statuses"]},
        "live": {
            "watcher": live_w["statuses"],
            "watcher_reused": live_w["reused"],
            "urlwatch": live_u["statuses"],
            "requests": requests,
        },
        "new_commits": git(repo, "rev-list", "--count", f"{head}..HEAD"),
        "dirty_files": git(repo, "status", "--porcelain"),
    }
    if first_w["changes"] != n or first_u["changes"] != n:
        failures.append(f"end to end: the first runs did not record {n} pages: {e2e['first']}")
    if live_w["statuses"] != {"unchanged": n} or live_w["reused"] != 0 or live_w["rc"] != 0:
        failures.append(f"end to end: watcher on live-like pages: {e2e['live']}")
    if live_u["changes"] != 0 or live_u["rc"] != 0:
        failures.append(f"end to end: urlwatch on live-like pages: {live_u['statuses']}")
    if e2e["new_commits"] != "0" or e2e["dirty_files"]:
        failures.append(f"end to end: the live-like run changed the repository: {e2e}")
    result = {
        "ok": not failures,
        "failures": failures,
        "seconds": time.perf_counter() - t0,
        "pages": unit.get("pages", []),
        "end_to_end": e2e,
    }
    if failures:
        for f in failures:
            log(f"CHECK FAILED: {f}")
    else:
        renders = [p["render_us"] for p in result["pages"] if "render_us" in p]
        log(
            f"check passed: {len(result['pages'])} pages rewritten faithfully (render "
            f"{min(renders):.0f}-{max(renders):.0f} µs per response), snapshot text identical, "
            f"end to end {n} pages unchanged and processed ({result['seconds']:.0f} s)"
        )
    return result


# --------------------------------------------------------------------------- live profile


def live_profile(n: int, server: Server, template: Path, env: dict[str, str]) -> dict[str, Any]:
    """The live-like unchanged run over N pages three times, each from the same state: through
    the CLI (for scale), in-process with stage timers, and in-process under cProfile."""
    setup = Setup(n, server.base, template, name="profile-live")
    base = setup.repo("base")
    copy_tree(template, base)
    server.mode(live=False, changed=False)
    log(f"live profile: baseline over {n} pages (not measured)")
    run_watcher(setup, base, "profile-baseline", env)
    copy_tree(base, setup.repo("plain"))
    server.mode(live=True, changed=False)
    plain = run_watcher(setup, setup.repo("plain"), "profile-plain", env)
    results: dict[str, Any] = {}
    for mode in ("timers", "cprofile"):
        repo = setup.repo(mode)
        copy_tree(base, repo)
        server.mode(live=True, changed=False)
        out = setup.out / f"profile-live-{mode}.json"
        cmd = [str(PY), str(SOURCE.code / "profile_live.py"), "--mode", mode]
        cmd += ["--config", str(setup.watcher_config), "--snapshots", str(repo / "snapshots")]
        cmd += ["--out", str(out)]
        if mode == "cprofile":
            cmd += ["--pstats", str(setup.out / "profile-live.pstats")]
        log(f"live profile: {mode} on the live-like unchanged run")
        in_process = {**env, "WATCHER_WORKERS": "0"}  # the timers see one process only
        m = measure(cmd, SOURCE.code, setup.out / f"profile-live-{mode}.stdout", in_process)
        if m["rc"] != 0:
            err = (setup.out / f"profile-live-{mode}.err").read_text()[-3000:]
            raise SystemExit(f"bench: profile_live.py --mode {mode} failed:\n{err}")
        results[mode] = {**json.loads(out.read_text()), "measured": m}
    server.mode(live=False, changed=False)
    t, c = results["timers"], results["cprofile"]
    log(
        f"live profile: {plain['wall_s']:.2f} s wall through the CLI, {t['wall_s']:.2f} s with "
        f"stage timers, {c['wall_s']:.2f} s under cProfile"
    )
    return {
        "pages": n,
        "plain": plain,
        "timers": t,
        "cprofile": c,
        "pstats": str(setup.out / "profile-live.pstats"),
    }


def profile_markdown(p: dict[str, Any], machine: dict[str, Any], state: dict[str, Any]) -> str:
    n = p["pages"]
    plain, t, c = p["plain"], p["timers"], p["cprofile"]
    total, ctotal = t["threads_cpu_s"], c["profiled_cpu_s"]
    cshare = {s["stage"]: s["share"] for s in c["stages"]}
    lines = [
        f"# Profile: watcher, live-like unchanged run over {n} pages",
        "",
        f"- {describe(state)}; runner from `{t['layout']}` (bench/adapter.py)",
        f"- machine: {machine['cpu']}, nproc {machine['nproc']}, Python {machine['python']}",
        "- workload: `Runner.run` in-process (bench/profile_live.py), as `watcher run "
        "--no-notify` runs it but with `WATCHER_WORKERS=0` (every stage in the process the "
        "timers see), over live-like pages (each response rewritten afresh by the "
        "page server, text unchanged), from the state a first run left; the same run three "
        "times, each from that state:",
        f"  - through the CLI, for scale: {plain['wall_s']:.2f} s wall, {plain['cpu_s']:.2f} s "
        f"CPU (process tree), {plain['peak_mb']:.0f} MB peak",
        f"  - with stage timers: {t['wall_s']:.2f} s wall, {total:.2f} s CPU in watcher's "
        f"{t['threads']} threads ({t['process_cpu_s']:.2f} s for the process, "
        f"{t['children_cpu_s']:.2f} s in git processes); outcome {t['statuses']}, "
        f"{t['reused']} pages skipped by hash",
        f"  - under cProfile: {c['wall_s']:.2f} s wall, {ctotal:.2f} s CPU in "
        f"{c['threads_profiled']} profiled threads: deterministic profiling multiplies the "
        f"CPU time {ctotal / total:.1f}×, most in the functions called most often, so its "
        "shares lean towards many small Python calls",
        "- times are CPU time of the calling thread (time.thread_time): waits on sockets, "
        "locks and the GIL are not counted",
        "",
        "## By stage",
        "",
        "Stage timers wrap the entry points of each stage (bench/adapter.py `STAGES`; a call "
        "made inside another entry point counts for the outer one). Lazy parts of the parsed "
        "page (`doc.text`, its folded form) are computed, and counted, where first used: in "
        "verify's wall and length checks.",
        "",
        "| stage | CPU s | share | per page | timed calls | share under cProfile |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in t["stages"]:
        lines.append(
            f"| {s['stage']} | {s['cpu_s']:.2f} | {s['share']:.1%} | "
            f"{s['cpu_s'] / n * 1000:.2f} ms | {s['calls'] or ''} | "
            f"{cshare.get(s['stage'], 0):.1%} |"
        )
    lines += [
        f"| **total** | **{total:.2f}** | 100% | {total / n * 1000:.2f} ms | | 100% |",
        "",
        "## Top functions, self time (cProfile)",
        "",
        "| function | calls | self s | share |",
        "|---|---:|---:|---:|",
    ]
    for f in c["top_self"][:20]:
        lines.append(
            f"| `{f['function']}` | {f['calls']} | {f['self_s']:.2f} | {f['self_share']:.1%} |"
        )
    lines += [
        "",
        "## watcher's functions, inclusive time (cProfile)",
        "",
        "| function | calls | inclusive s | share |",
        "|---|---:|---:|---:|",
    ]
    for f in c["top_inclusive_watcher"][:20]:
        lines.append(
            f"| `{f['function']}` | {f['calls']} | {f['inclusive_s']:.2f} | "
            f"{f['inclusive_share']:.1%} |"
        )
    lines += [
        "",
        "Shares are of the CPU time of all profiled threads; an inclusive share can pass 100% "
        "by the profiler's own time inside a call.",
        "",
        "Stage entry points timed in this layout: "
        + "; ".join(f"`{e}`" for e in t["entries_found"])
        + ".",
        "",
        f"Raw profile (merged pstats): `{Path(p['pstats']).relative_to(ROOT)}` "
        "(browse with `python -m pstats`; not kept in git).",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "–"


def pick(rows: list[dict[str, Any]], **want: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in want.items()):
            return row
    return None


def floor_of(data: dict[str, Any], n: int, scenario: str) -> dict[str, Any] | None:
    """The faster floor (sequential or 4 threads) for the scenario's kind of pages."""
    rows = [f for f in data["floor"] if f["pages"] == n and f["mode"] == floor_mode(scenario)]
    return min(rows, key=lambda f: f["wall_s"]) if rows else None


def targets_check(data: dict[str, Any]) -> list[dict[str, Any]]:
    runs = data["runs"]
    n = max(data["sizes"])
    note = "" if n == 300 else f" (N={n}: the goals are for N=300)"
    out = []

    def add(issue: str, name: str, goal: str, measured: str, ok: bool | None) -> None:
        per_n = not name.startswith(("extract", "`watcher"))
        target = name + (note if per_n else "")
        row = {"issue": issue, "target": target, "goal": goal, "measured": measured}
        out.append({**row, "met": ok})

    def get(scenario: str, tool: str) -> dict[str, Any] | None:
        return pick(runs, pages=n, scenario=scenario, tool=tool)

    now = "live pages"
    w, u = get("live", "watcher"), get("live", "urlwatch")
    if w and u:
        speedup = u["wall_s"] / w["wall_s"]
        add(
            now,
            "live-like unchanged vs urlwatch (wall)",
            "≥ 2× faster",
            f"{speedup:.2f}× (watcher {w['wall_s']:.2f} s, urlwatch {u['wall_s']:.2f} s; "
            f"by CPU {u['cpu_s'] / w['cpu_s']:.2f}×)",
            speedup >= 2,
        )
    f = floor_of(data, n, "live")
    if w and f:
        multiple = w["wall_s"] / f["wall_s"]
        add(
            now,
            "live-like unchanged vs the floor (wall)",
            "≤ 1.5× the floor",
            f"{multiple:.2f}× ({w['wall_s']:.2f} s vs {f['wall_s']:.2f} s)",
            multiple <= 1.5,
        )
    w, u = get("first", "watcher"), get("first", "urlwatch")
    if w and u:
        multiple = w["wall_s"] / u["wall_s"]
        add(
            now,
            "first run vs urlwatch (wall)",
            "no slower (≤ 1.00×)",
            f"{multiple:.2f}× urlwatch's time ({w['wall_s']:.2f} s vs {u['wall_s']:.2f} s)",
            multiple <= 1.0,
        )
    if data["micro"]:
        ms = data["micro"][0]["median_ms"]["total"]
        add(
            now,
            "extract + normalize the printable page (375 KB)",
            "≤ 5 ms median",
            f"{ms:.1f} ms",
            ms <= 5,
        )
    peaks = [r["peak_max_mb"] for r in runs if r["pages"] == n and r["tool"] == "watcher"]
    if peaks:
        add(
            now,
            f"peak memory of a {n}-page run (worst sample, any scenario)",
            "≤ 100 MB",
            f"{max(peaks):.0f} MB",
            max(peaks) <= 100,
        )
    old = "issue 7"
    w, u = get("unchanged", "watcher"), get("unchanged", "urlwatch")
    if w and u:
        speedup = u["wall_s"] / w["wall_s"]
        add(
            old,
            "byte-identical unchanged vs urlwatch (wall)",
            "≥ 2× faster",
            f"{speedup:.2f}× ({w['wall_s']:.2f} s vs {u['wall_s']:.2f} s)",
            speedup >= 2,
        )
    f = floor_of(data, n, "unchanged")
    if w and f:
        multiple = w["wall_s"] / f["wall_s"]
        add(
            old,
            "byte-identical unchanged vs the floor (wall)",
            "≤ 2.5× the floor",
            f"{multiple:.2f}× ({w['wall_s']:.2f} s vs {f['wall_s']:.2f} s)",
            multiple <= 2.5,
        )
    c = get("changed", "watcher")
    if w and c:
        multiple = c["wall_s"] / w["wall_s"]
        add(
            old,
            "10% changed vs byte-identical unchanged (wall)",
            "≤ 2×",
            f"{multiple:.2f}× ({c['wall_s']:.2f} s vs {w['wall_s']:.2f} s)",
            multiple <= 2,
        )
    h = pick(data["startup"], command="watcher --help")
    if h:
        add(old, "`watcher --help`", "< 0.3 s", f"{h['wall_s']:.3f} s", h["wall_s"] < 0.3)
    return out


def load_during(data: dict[str, Any]) -> str:
    loads = [s["load1"] for r in data["runs"] for s in r["samples"] if s.get("load1") is not None]
    if not loads:
        return "?"
    return f"median {statistics.median(loads):.2f}, max {max(loads):.2f}"


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    measured = describe(data["source"])
    if not same_watcher(data["source"], data["source_after"]):
        measured += (
            f" (watcher/ changed during the run: {describe(data['source_after'])} at the end)"
        )
    load = data["load_before"] or ["?"]
    lines = [
        "# watcher benchmark",
        "",
        f"- date: {data['date']}",
        f"- machine: {m['cpu']}, nproc {m['nproc']}, Python {m['python']}, {m['platform']}, "
        f"{m['git']}",
        f"- load average at start: {' / '.join(map(str, load))} (1 / 5 / 15 min); at the end: "
        f"{' / '.join(map(str, data['load_after'] or ['?']))}; 1-min load at the start of each "
        f"measured run: {load_during(data)}",
        f"- reproduce: `{data['command']}` (from a fresh clone: `./scripts/setup` first)",
        f"- measured: {measured}; urlwatch {URLWATCH_VERSION} in bench/.work/venv",
        f"- pages: {data['pages']['sources']} real Meta privacy-policy pages from "
        f"tests/fixtures/ota/facebook/privacy-policy ({data['pages']['html']} raw printable HTML, "
        f"{data['pages']['md']} text versions rendered to HTML), repeated under distinct URLs on "
        "127.0.0.1 by a separate server process (no Last-Modified/ETag)",
        f"- medians of {data['repeat']} runs per row (min–max beside the wall time); each "
        "repetition runs every scenario for both tools (order alternating) and the floor, each "
        "run from the same state",
        "- watcher: `watcher run --config <N targets> --snapshots <temporary git repo> --json "
        "--no-notify`; keeps the AI-training sections of each page as Markdown (links "
        "cleaned of tracking parameters), one git commit per new or changed page",
        f"- urlwatch {URLWATCH_VERSION}: one job per page, `filter: [{{css: '#root'}}, "
        "html2text]` (html2text's default `re` method: every tag stripped), so it keeps the "
        "text of all of `#root`, without link targets or any attribute; its sqlite cache; "
        "the stdout reporter",
        "- CPU = user+sys of the process tree (os.wait4: includes the git processes watcher "
        "waits for); peak = largest max RSS of one process in the tree (ru_maxrss)",
        f"- live-like check: {'passed' if data['check'].get('ok') else 'FAILED'} "
        "(`bench/run.py --check`: templates rebuild each page byte for byte; rewritten copies "
        "parse to the same tags and text; watcher's snapshot text of the original and of two "
        "rewritten copies byte-identical; end to end, a live-like run finds every page "
        "unchanged, none of them by its bytes)",
        "",
    ]
    for n in data["sizes"]:
        lines += [
            f"## {n} pages: watcher vs urlwatch vs the floor",
            "",
            "| scenario | tool | wall | CPU | peak RSS | watcher ÷ urlwatch: wall / CPU / peak "
            "| ÷ floor (wall) | CPU per page | changes (expected) | skipped by hash | "
            "skipped by stable form | requests |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for s in data["scenarios"]:
            w = pick(data["runs"], pages=n, scenario=s, tool="watcher")
            u = pick(data["runs"], pages=n, scenario=s, tool="urlwatch")
            f = floor_of(data, n, s)
            if not (w and u):
                continue
            for tool, row in (("watcher", w), ("urlwatch", u)):
                flag = "" if row["ok"] else " ⚠"
                vs_u = (
                    f"{fmt_ratio(w['wall_s'], u['wall_s'])} / {fmt_ratio(w['cpu_s'], u['cpu_s'])}"
                    f" / {fmt_ratio(w['peak_mb'], u['peak_mb'])}"
                    if tool == "watcher"
                    else ""
                )
                reused = (
                    f"{row['reused']:.0f} (expected {row['expected_reused']}) | "
                    f"{row.get('stable', 0):.0f}"
                    if tool == "watcher"
                    else "– | –"
                )
                lines.append(
                    f"| {'**' + SCENARIO_LABEL[s] + '**' if tool == 'watcher' else ''} | {tool} "
                    f"| {row['wall_s']:.2f} s ({row['wall_min_s']:.2f}–{row['wall_max_s']:.2f}) "
                    f"| {row['cpu_s']:.2f} s | {row['peak_mb']:.0f} MB | {vs_u} | "
                    f"{fmt_ratio(row['wall_s'], f['wall_s']) if f else '–'} | "
                    f"{row['cpu_s'] / n * 1000:.1f} ms | {row['changes']:.0f} "
                    f"({row['expected_changes']}){flag} | {reused} | {row['requests']:.0f} |"
                )
            if f:
                lines.append(
                    f"| | floor ({'live-like' if f['mode'] == 'live' else 'byte-identical'} "
                    f"pages, {f['threads']} thread{'s' if f['threads'] > 1 else ''}) | "
                    f"{f['wall_s']:.2f} s ({f['wall_min_s']:.2f}–{f['wall_max_s']:.2f}) | "
                    f"{f['cpu_s']:.2f} s | {f['peak_mb']:.0f} MB | | 1.00× | "
                    f"{f['cpu_s'] / n * 1000:.1f} ms | | | {n} |"
                )
        lines += [
            "",
            "Scenarios: "
            + "; ".join(f"*{SCENARIO_LABEL[s]}*: {SCENARIO_NOTE[s]}" for s in data["scenarios"])
            + ". Changes: watcher's `new`/`changed` results in `--json` (each change confirmed "
            "by a second fetch), urlwatch's `NEW`/`CHANGED` jobs. Skipped by hash: watcher "
            "results with `same_input` (the page's bytes were those the snapshot was made "
            "from, so it was not processed). Requests: fetches the server saw.",
            "",
            "### Ratios",
            "",
            "| scenario | watcher ÷ urlwatch (wall) | (CPU) | (peak) | watcher ÷ floor (wall) "
            "| urlwatch ÷ floor (wall) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in data["scenarios"]:
            w = pick(data["runs"], pages=n, scenario=s, tool="watcher")
            u = pick(data["runs"], pages=n, scenario=s, tool="urlwatch")
            f = floor_of(data, n, s)
            if not (w and u and f):
                continue
            lines.append(
                f"| {SCENARIO_LABEL[s]} | {fmt_ratio(w['wall_s'], u['wall_s'])} | "
                f"{fmt_ratio(w['cpu_s'], u['cpu_s'])} | {fmt_ratio(w['peak_mb'], u['peak_mb'])} "
                f"| {fmt_ratio(w['wall_s'], f['wall_s'])} | {fmt_ratio(u['wall_s'], f['wall_s'])} |"
            )
        lines += [
            "",
            "### The floor: fetch + selectolax parse, nothing else",
            "",
            "Fresh process: one sync `httpx.Client`, `LexborHTMLParser(html).css_first('#root')"
            ".text()` per page; sequential, and in a pool of 4 threads sharing the client. "
            "Whole processes (interpreter start and imports included, as for the tools); "
            "the faster of the two is the floor.",
            "",
            "| pages served | MB | sequential | 4 threads | in-process fetch / parse "
            "(sequential) | server rewriting per response |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for mode in ("live", "identical"):
            seq = pick(data["floor"], pages=n, mode=mode, threads=1)
            par = pick(data["floor"], pages=n, mode=mode, threads=4)
            if not (seq and par):
                continue
            rewrite = f"{seq['server_rewrite_s'] / n * 1000:.2f} ms" if mode == "live" else "none"
            lines.append(
                f"| {'live-like' if mode == 'live' else 'byte-identical'} | "
                f"{seq['bytes'] / 1e6:.1f} | {seq['wall_s']:.2f} s ({seq['cpu_s']:.2f} s CPU) | "
                f"{par['wall_s']:.2f} s ({par['cpu_s']:.2f} s CPU) | {seq['fetch_s']:.2f} s / "
                f"{seq['parse_s']:.2f} s | {rewrite} |"
            )
        lines.append("")
    lines += [
        "## Start-up (fresh process, median)",
        "",
        "| command | wall | CPU |",
        "|---|---:|---:|",
    ]
    for row in data["startup"]:
        lines.append(
            f"| {row['command']} | {row['wall_s'] * 1000:.0f} ms | {row['cpu_s'] * 1000:.0f} ms |"
        )
    lines += [
        "",
        "## Extract + normalize one page (bench/micro.py, median per stage)",
        "",
        "| page | parse | extract_sections | render_markdown | **total** | verify_page "
        "(not in total) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in data["micro"]:
        ms = row["median_ms"]
        lines.append(
            f"| {row['page']} ({row['bytes'] / 1000:.0f} KB) | {ms['parse']:.1f} ms | "
            f"{ms['extract']:.1f} ms | {ms['render']:.1f} ms | **{ms['total']:.1f} ms** | "
            f"{ms['verify']:.1f} ms |"
        )
    if data.get("profile_live"):
        p = data["profile_live"]
        top = sorted(p["timers"]["stages"], key=lambda s: -s["cpu_s"])[:4]
        lines += [
            "",
            f"## Where a live-like run's CPU goes ({p['pages']} pages, stage timers)",
            "",
            "; ".join(f"{s['stage']} {s['share']:.0%}" for s in top)
            + ". Details: [profile-live.md](profile-live.md).",
        ]
    lines += [
        "",
        "## Goals",
        "",
        "| issue | target | goal | measured | met |",
        "|---|---|---|---|---|",
    ]
    for t in data["targets"]:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        lines.append(f"| {t['issue']} | {t['target']} | {t['goal']} | {t['measured']} | {met} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- profile


def stage_of(frames: list[str]) -> str:
    """The pipeline stage a sampled stack belongs to."""
    joined = ";".join(frames)
    checks = (
        ("imports", ("_find_and_load (",)),
        ("record (store + git)", ("_record_all (", "_record (")),
        ("fetch (httpx)", ("_fetch_once (", "HttpFetcher.fetch (", "Fetchers.fetch (")),
        ("verify_page", ("verify_page (",)),
        ("render_markdown", ("render_markdown (",)),
        ("extract_sections", ("extract_sections (",)),
        ("parse (Document)", ("from_content (", "Document.__init__ (")),
        ("sentences_of", ("sentences_of (",)),
        ("compare (snapshot read + diff)", ("_compare (", "_confirm (", "SnapshotStore.read (")),
        ("load_config", ("load_config (",)),
        ("report (JSON)", ("to_json (",)),
        ("thread pool and waits", ("concurrent/futures", "threading.py")),
    )
    for name, needles in checks:
        if any(needle in joined for needle in needles):
            return name
    return "other"


def function_of(frame: str) -> str:
    """`name (file:line)` without the line, so lines of one function add up."""
    return re.sub(r":\d+\)$", ")", frame)


def profile(n: int, server: Server, template: Path, env: dict[str, str], bindir: Path) -> str:
    """py-spy on a watcher byte-identical unchanged run over N pages; returns Markdown."""
    server.mode(live=False, changed=False)
    setup = Setup(n, server.base, template, name="profile-pyspy")
    repo = setup.repo("profile")
    copy_tree(template, repo)
    log(f"profile: first run over {n} pages (not profiled)")
    run_watcher(setup, repo, "profile-first", env)
    raw = WORK / "runs" / f"profile-{n}-unchanged.txt"
    cmd = [
        str(bindir / "py-spy"),
        "record",
        "--rate",
        "250",
        "--format",
        "raw",
        "--subprocesses",
        "--nonblocking",
        "--output",
        str(raw),
        "--",
        *watcher_cmd(setup, repo),
    ]
    log("profile: py-spy record on the unchanged run")
    m = measure(cmd, repo, setup.out / "profile.json", env)
    plain = run_watcher(setup, repo, "profile-plain", env)
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(c for _, c in stacks) or 1
    by_stage: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    self_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        by_stage[stage_of(frames)] += count
        # self time of Python code: C calls (regex, str methods, lexbor) count for their caller
        self_line[frames[-1]] += count
        self_function[function_of(frames[-1])] += count
        for frame in {function_of(f) for f in frames[1:]}:
            inclusive[frame] += count
    imports = import_times(env)
    spy = subprocess.run([str(bindir / "py-spy"), "--version"], capture_output=True, text=True)
    state = source_state(env)
    lines = [
        f"# Profile: watcher, unchanged run over {n} pages",
        "",
        f"- {spy.stdout.strip()}: `py-spy record --rate 250 --format raw --subprocesses "
        "--nonblocking -- watcher run …`; samples of running (on-CPU) threads only",
        f"- {describe(state)}",
        f"- profiled run: {m['wall_s']:.2f} s wall; the same run without py-spy: "
        f"{plain['wall_s']:.2f} s wall, {plain['cpu_s']:.2f} s CPU, {plain['peak_mb']:.0f} MB",
        f"- {total} samples; a share of samples is a share of the CPU time of all threads",
        "",
        "## By pipeline stage",
        "",
        "| stage | samples | share |",
        "|---|---:|---:|",
    ]
    for stage, count in by_stage.most_common():
        lines.append(f"| {stage} | {count} | {count / total:.0%} |")
    lines += ["", "## Top functions, self time", "", "| function | share |", "|---|---:|"]
    for frame, count in self_function.most_common(20):
        lines.append(f"| `{frame}` | {count / total:.1%} |")
    lines += ["", "## Top lines, self time", "", "| line | share |", "|---|---:|"]
    for frame, count in self_line.most_common(20):
        lines.append(f"| `{frame}` | {count / total:.1%} |")
    lines += ["", "## Top functions, inclusive", "", "| function | share |", "|---|---:|"]
    for frame, count in inclusive.most_common(30):
        lines.append(f"| `{frame}` | {count / total:.1%} |")
    lines += [
        "",
        "## Imports of `watcher --help` (python -X importtime, cumulative)",
        "",
        "| module | cumulative ms |",
        "|---|---:|",
    ]
    for module, us in imports[:15]:
        lines.append(f"| {module} | {us / 1000:.1f} |")
    return "\n".join(lines) + "\n"


def import_times(env: dict[str, str]) -> list[tuple[str, int]]:
    proc = subprocess.run(
        [str(PY), "-X", "importtime", "-c", "from watcher.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1])))
    rows.sort(key=lambda r: -r[1])
    return rows


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, help="runs per row (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="N = 60 only, one run of each")
    parser.add_argument("--sizes", help="comma-separated page counts (default 300)")
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated, in the order of the report (default {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the live-like rewriting, then stop"
    )
    parser.add_argument("--skip-check", action="store_true", help="do not check first")
    parser.add_argument(
        "--no-live-profile", action="store_true", help="skip the cProfile of a live-like run"
    )
    parser.add_argument(
        "--live-profile-only",
        action="store_true",
        help="only the cProfile of a live-like run (writes profile-live.md)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also py-spy a byte-identical unchanged run"
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="only the py-spy profile (writes profile.md)"
    )
    parser.add_argument(
        "--profile-pages", type=int, default=300, help="pages in the profiled runs (default 300)"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the live-like rewriting")
    parser.add_argument(
        "--rev",
        help="measure watcher as committed at REV (exported to bench/.work/src), not the "
        "working tree",
    )
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    if not WATCHER.exists():
        raise SystemExit(
            f"bench: {WATCHER} not found; run with the project's virtualenv: "
            ".venv/bin/python bench/run.py"
        )
    repeat = args.repeat or (1 if args.quick else 3)
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else ([60] if args.quick else [300])
    )
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    env = child_env()
    if args.rev:
        SOURCE.pin(args.rev, env)
    bindir = ensure_bench_venv(("py-spy",) if args.profile or args.profile_only else ())
    template = make_repo_template(WORK / "runs" / "repo-template")
    command = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    load_before = loadavg()
    started = time.perf_counter()
    log("starting the page server")
    server = Server(env, args.seed)
    try:
        if args.check:
            result = run_check(server, template, env, bindir)
            print(json.dumps({k: v for k, v in result.items() if k != "pages"}, indent=1))
            return 0 if result["ok"] else 1
        if args.profile_only:
            report = profile(args.profile_pages, server, template, env, bindir)
            (out_dir / "profile.md").write_text(report)
            print(report)
            log(f"wrote {out_dir / 'profile.md'}")
            return 0
        machine = machine_info()
        if args.live_profile_only:
            p = live_profile(args.profile_pages, server, template, env)
            state = source_state(env)
            (out_dir / "profile-live.md").write_text(profile_markdown(p, machine, state))
            log(f"wrote {out_dir / 'profile-live.md'}")
            return 0
        data: dict[str, Any] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine,
            "command": command.replace("python bench/run.py", ".venv/bin/python bench/run.py"),
            "repeat": repeat,
            "sizes": sizes,
            "scenarios": scenarios,
            "load_before": load_before,
            "source": source_state(env),
            "urlwatch": {"version": URLWATCH_VERSION, "filter": URLWATCH_FILTER},
            "pages": {
                "sources": len(server.info["sources"]),
                "html": sum(s["name"].endswith(".html") for s in server.info["sources"]),
                "md": sum(s["name"].endswith(".md") for s in server.info["sources"]),
                "list": server.info["sources"],
            },
        }
        if args.skip_check:
            data["check"] = {"ok": None, "skipped": True}
        else:
            data["check"] = run_check(server, template, env, bindir)
            if not data["check"]["ok"]:
                raise SystemExit("bench: the live-like check failed; no numbers written")
        data["startup"] = bench_startup(3 if args.quick else 10, env, bindir)
        data["micro"] = bench_micro(5 if args.quick else 30, env)
        data["floor"] = []
        data["runs"] = []
        for n in sizes:
            rows, floors = bench_size(n, scenarios, repeat, server, template, env, bindir)
            data["runs"] += rows
            data["floor"] += floors
        if not (args.quick or args.no_live_profile):
            data["profile_live"] = live_profile(args.profile_pages, server, template, env)
        data["load_after"] = loadavg()
        data["source_after"] = source_state(env)
        data["seconds"] = round(time.perf_counter() - started, 1)
        if not same_watcher(data["source"], data["source_after"]):
            log("WARNING: watcher/ had uncommitted changes or changed during the run")
        data["targets"] = targets_check(data)
        text = markdown(data)
        (out_dir / "latest.md").write_text(text)
        (out_dir / "latest.json").write_text(json.dumps(data, indent=1) + "\n")
        if data.get("profile_live"):
            report = profile_markdown(data["profile_live"], machine, data["source"])
            (out_dir / "profile-live.md").write_text(report)
        print(text)
        log(f"wrote {out_dir / 'latest.md'} and latest.json in {data['seconds']:.0f} s")
        if args.profile:
            report = profile(args.profile_pages, server, template, env, bindir)
            (out_dir / "profile.md").write_text(report)
            print(report)
            log(f"wrote {out_dir / 'profile.md'}")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
