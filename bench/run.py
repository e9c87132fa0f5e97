"""Benchmark watcher against urlwatch 2.29 on real Meta pages served from 127.0.0.1.

    .venv/bin/python bench/run.py              # full: N = 60 and 300, medians of 5 runs
    .venv/bin/python bench/run.py --quick      # a fast check: N = 60, one run of each
    .venv/bin/python bench/run.py --profile    # also profile watcher on a 300-page unchanged run

No network except, on first use, `pip install urlwatch==2.29` (and py-spy for --profile) into
bench/.work/venv. Writes bench/results/latest.md and latest.json (profile.md with --profile).
See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
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
EU_MARKERS = ["Meta Platforms Ireland Limited", "Irish Data Protection Commission"]
SCENARIOS = ("first", "unchanged", "changed")
SCENARIO_LABEL = {
    "first": "first run",
    "unchanged": "unchanged",
    "changed": "10% changed",
}
TOOLS = ("watcher", "urlwatch")
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
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
    }


def source_state() -> dict[str, Any]:
    """Which watcher was measured: the commit, and whether watcher/ had uncommitted edits."""

    def out(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    dirty = out("status", "--porcelain", "--", "watcher")
    version = subprocess.run(
        [str(WATCHER), "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": out("rev-parse", "--short", "HEAD"),
        "watcher_tree": out("rev-parse", "--short", "HEAD:watcher"),
        "uncommitted_watcher_changes": bool(dirty),
        "watcher_version": version,
    }


def same_watcher(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same committed watcher/ sources (commits that touch other files do not count)."""
    keys = ("watcher_tree", "uncommitted_watcher_changes")
    return all(a.get(k) == b.get(k) for k in keys) and not a["uncommitted_watcher_changes"]


def describe(state: dict[str, Any]) -> str:
    dirty = " + uncommitted changes in watcher/" if state["uncommitted_watcher_changes"] else ""
    tree = f" (watcher/ tree {state['watcher_tree']})" if state.get("watcher_tree") else ""
    return f"{state['watcher_version']} at commit {state['commit']}{tree}{dirty}"


def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


# --------------------------------------------------------------------------- measuring


def measure(cmd: list[str], cwd: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `cmd` to completion: wall time, CPU (user+sys) and peak RSS of its process tree.

    os.wait4 gives the child's rusage including every descendant it waited for (git, for
    watcher); ru_maxrss is the largest RSS of any one process in that tree.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
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
    return statistics.median(s[key] for s in samples)


class Server:
    """bench/server.py in its own process, so it shares neither GIL nor rusage with the tools."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [str(PY), str(BENCH / "server.py")],
            cwd=BENCH,
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
            return json.loads(response.read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- the two tools


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


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
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


def copy_file(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    if src.exists():
        shutil.copyfile(src, dst)


class Setup:
    """Config files and state folders for one N."""

    def __init__(self, n: int, base_url: str, template: Path):
        import yaml

        self.n = n
        self.dir = WORK / "runs" / f"n{n}"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.template = template
        shipped = yaml.safe_load((ROOT / "targets.yaml").read_text())
        policy = next(t for t in shipped["targets"] if t["id"] == "facebook-privacy-policy")
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
        uw = self.dir / "urlwatch"
        uw.mkdir()
        self.urls = uw / "urls.yaml"
        self.urls.write_text(
            "---\n".join(
                json.dumps(
                    {
                        "name": f"page-{i:03d}",
                        "url": f"{base_url}/p/{i}",
                        "filter": [{"css": "#root"}, "html2text"],
                    }
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


def watcher_cmd(setup: Setup, repo: Path) -> list[str]:
    """The run the benchmark measures (and profiles)."""
    return [
        str(WATCHER),
        "run",
        "--config",
        str(setup.watcher_config),
        "--snapshots",
        str(repo / "snapshots"),
        "--json",
        "--no-notify",
    ]


def run_watcher(setup: Setup, repo: Path, tag: str, env: dict[str, str]) -> dict[str, Any]:
    cmd = watcher_cmd(setup, repo)
    out = setup.out / f"watcher-{tag}.json"
    m = measure(cmd, repo, out, env)
    try:
        report = json.loads(out.read_text())
        statuses = Counter(r["status"] for r in report["results"])
    except (ValueError, KeyError):
        statuses = Counter({"unreadable output": 1})
    m["statuses"] = dict(statuses)
    m["changes"] = statuses.get("new", 0) + statuses.get("changed", 0)
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


def expected_changes(n: int, scenario: str) -> int:
    return {"first": n, "unchanged": 0, "changed": (n + 9) // 10}[scenario]


def bench_size(
    n: int, repeat: int, server: Server, template: Path, env: dict[str, str], bindir: Path
) -> list[dict[str, Any]]:
    """First, unchanged and 10%-changed runs of both tools, interleaved."""
    setup = Setup(n, server.base, template)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {
        (s, t): [] for s in SCENARIOS for t in TOOLS
    }

    def one(scenario: str, tool: str, r: int, repo: Path, cache: Path) -> None:
        server.ctl("reset")
        tag = f"{scenario}-{r}"
        if tool == "watcher":
            m = run_watcher(setup, repo, tag, env)
        else:
            m = run_urlwatch(setup, cache, tag, env, bindir)
        m["requests"] = server.ctl("stats")["requests"]
        samples[(scenario, tool)].append(m)
        log(
            f"N={n} {scenario:9} {tool:8} #{r + 1}: {m['wall_s']:.2f} s wall, "
            f"{m['cpu_s']:.2f} s CPU, {m['peak_mb']:.0f} MB, {m['changes']} changes, "
            f"{m['requests']} requests, rc {m['rc']}"
        )

    def order(r: int) -> tuple[str, ...]:
        return TOOLS if r % 2 == 0 else TOOLS[::-1]

    # first run: a fresh repository and a fresh cache every time
    for r in range(repeat):
        for tool in order(r):
            repo, cache = setup.repo("first"), setup.cache("first")
            if tool == "watcher":
                copy_tree(template, repo)
            else:
                cache.unlink(missing_ok=True)
            one("first", tool, r, repo, cache)
    # the state after the last first run is the baseline of the other runs
    copy_tree(setup.repo("first"), setup.repo("base"))
    copy_file(setup.cache("first"), setup.cache("base"))

    copy_tree(setup.repo("base"), setup.repo("work"))
    copy_file(setup.cache("base"), setup.cache("work"))
    for r in range(repeat):
        for tool in order(r):
            one("unchanged", tool, r, setup.repo("work"), setup.cache("work"))

    server.ctl("changed/1")
    try:
        for r in range(repeat):
            for tool in order(r):
                if tool == "watcher":
                    copy_tree(setup.repo("base"), setup.repo("work"))
                else:
                    copy_file(setup.cache("base"), setup.cache("work"))
                one("changed", tool, r, setup.repo("work"), setup.cache("work"))
    finally:
        server.ctl("changed/0")

    rows = []
    for (scenario, tool), runs in samples.items():
        want = expected_changes(n, scenario)
        row = {
            "pages": n,
            "scenario": scenario,
            "tool": tool,
            "runs": len(runs),
            "wall_s": median_of(runs, "wall_s"),
            "cpu_s": median_of(runs, "cpu_s"),
            "peak_mb": median_of(runs, "peak_mb"),
            "changes": median_of(runs, "changes"),
            "requests": median_of(runs, "requests"),
            "expected_changes": want,
            "ok": all(s["rc"] == 0 and s["changes"] == want for s in runs),
            "samples": runs,
        }
        if not row["ok"]:
            log(f"WARNING: N={n} {scenario} {tool}: expected {want} changes, see {setup.out}")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- floor, start-up


def bench_floor(
    n: int, repeat: int, server: Server, env: dict[str, str], threads: tuple[int, ...]
) -> list[dict[str, Any]]:
    rows = []
    out_dir = WORK / "runs" / "floor"
    for k in threads:
        runs = []
        for r in range(repeat):
            cmd = [str(PY), str(BENCH / "floor.py"), "--base-url", server.base, "-n", str(n)]
            cmd += ["--threads", str(k)]
            out = out_dir / f"floor-{n}-{k}-{r}.json"
            m = measure(cmd, BENCH, out, env)
            m.update(json.loads(out.read_text()))
            runs.append(m)
        row = {
            "pages": n,
            "threads": k,
            "runs": repeat,
            "wall_s": median_of(runs, "wall_s"),
            "cpu_s": median_of(runs, "cpu_s"),
            "peak_mb": median_of(runs, "peak_mb"),
            "loop_s": median_of(runs, "loop_s"),
            "import_s": median_of(runs, "import_s"),
            "fetch_s": median_of(runs, "fetch_s") if k == 1 else None,
            "parse_s": median_of(runs, "parse_s") if k == 1 else None,
            "bytes": runs[0]["bytes"],
            "samples": runs,
        }
        log(
            f"N={n} floor ({k} thread{'s' if k > 1 else ''}): {row['wall_s']:.2f} s wall "
            f"(loop {row['loop_s']:.2f} s), {row['cpu_s']:.2f} s CPU, {row['peak_mb']:.0f} MB"
        )
        rows.append(row)
    return rows


def bench_startup(repeat: int, env: dict[str, str], bindir: Path) -> list[dict[str, Any]]:
    commands = {
        "python -c pass (interpreter alone)": [str(PY), "-c", "pass"],
        "watcher --help": [str(WATCHER), "--help"],
        "watcher validate (shipped targets.yaml)": [
            str(WATCHER),
            "validate",
            "--config",
            str(ROOT / "targets.yaml"),
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
    cmd = [str(PY), str(BENCH / "micro.py"), "--iterations", str(iterations)]
    m = measure(cmd, BENCH, out, env)
    if m["rc"] != 0:
        raise SystemExit(f"bench: micro.py failed:\n{out.with_suffix('.err').read_text()}")
    rows = json.loads(out.read_text())
    for row in rows:
        log(f"extract+normalize {row['page']}: {row['median_ms']['total']:.1f} ms median")
    return rows


# --------------------------------------------------------------------------- report


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "–"


def pick(rows: list[dict[str, Any]], **want: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in want.items()):
            return row
    return None


def targets_check(data: dict[str, Any]) -> list[dict[str, Any]]:
    runs, floor = data["runs"], data["floor"]
    n = max(data["sizes"])
    note = "" if n == 300 else f" (N={n}: run without --quick for N=300)"
    out = []

    def add(name: str, goal: str, measured: str, ok: bool | None) -> None:
        out.append({"target": name + note, "goal": goal, "measured": measured, "met": ok})

    w = pick(runs, pages=n, scenario="unchanged", tool="watcher")
    u = pick(runs, pages=n, scenario="unchanged", tool="urlwatch")
    c = pick(runs, pages=n, scenario="changed", tool="watcher")
    if w and u:
        speedup = u["wall_s"] / w["wall_s"]
        add(
            "unchanged run vs urlwatch (wall)",
            "≥ 2× faster (3× stretch)",
            f"speed-up {speedup:.2f}× (watcher {w['wall_s']:.2f} s, urlwatch {u['wall_s']:.2f} s; "
            f"by CPU time {u['cpu_s'] / w['cpu_s']:.2f}×)",
            speedup >= 2,
        )
    floors = [f for f in floor if f["pages"] == n]
    if w and floors:
        best = min(floors, key=lambda f: f["wall_s"])
        multiple = w["wall_s"] / best["wall_s"]
        add(
            "unchanged run vs the floor (wall)",
            "≤ 2.5× the floor",
            f"{multiple:.2f}× ({w['wall_s']:.2f} s vs {best['wall_s']:.2f} s)",
            multiple <= 2.5,
        )
    if w and c:
        multiple = c["wall_s"] / w["wall_s"]
        add(
            "10%-changed run vs unchanged run (wall)",
            "≤ 2×",
            f"{multiple:.2f}× ({c['wall_s']:.2f} s vs {w['wall_s']:.2f} s)",
            multiple <= 2,
        )
    if data["micro"]:
        ms = data["micro"][0]["median_ms"]["total"]
        out.append(
            {
                "target": "extract + normalize one printable page (~370 KB)",
                "goal": "< 10 ms median",
                "measured": f"{ms:.1f} ms",
                "met": ms < 10,
            }
        )
    peaks = [r["peak_mb"] for r in runs if r["pages"] == n and r["tool"] == "watcher"]
    if peaks:
        add(
            "peak memory of a run (worst scenario)",
            "< 120 MB",
            f"{max(peaks):.0f} MB",
            max(peaks) < 120,
        )
    h = pick(data["startup"], command="watcher --help")
    if h:
        out.append(
            {
                "target": "`watcher --help`",
                "goal": "< 0.3 s",
                "measured": f"{h['wall_s']:.3f} s",
                "met": h["wall_s"] < 0.3,
            }
        )
    return out


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    measured = describe(data["source"])
    if not same_watcher(data["source"], data["source_after"]):
        measured += (
            f" (watcher/ changed during the run: {describe(data['source_after'])} at the end)"
        )
    lines = [
        "# watcher benchmark",
        "",
        f"- date: {data['date']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}, "
        f"{m['git']}; load average {data['load_before']} before, {data['load_after']} after",
        f"- reproduce: `{data['command']}` (from a fresh clone: `./scripts/setup` first)",
        f"- measured: {measured}; urlwatch {URLWATCH_VERSION} in bench/.work/venv",
        f"- pages: {data['pages']['sources']} real Meta privacy-policy pages from "
        f"tests/fixtures/ota/facebook/privacy-policy ({data['pages']['html']} raw printable HTML, "
        f"{data['pages']['md']} text versions rendered to HTML), repeated under distinct URLs on "
        "127.0.0.1 by a separate server process (no Last-Modified/ETag)",
        f"- medians of {data['repeat']} runs per row, watcher and urlwatch interleaved; "
        f"urlwatch {URLWATCH_VERSION} (`css: '#root'` then `html2text`), fresh cache per "
        "first run; watcher `run --json --no-notify` committing into a temporary git repository",
        "- CPU = user+sys of the process tree (os.wait4), peak = largest max RSS in the tree",
        "",
        "## watcher vs urlwatch",
        "",
        "| pages | run | watcher wall | urlwatch wall | w/u | watcher CPU | urlwatch CPU | w/u "
        "| watcher peak | urlwatch peak | w/u | changes w / u | requests w / u |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for n in data["sizes"]:
        for s in SCENARIOS:
            w = pick(data["runs"], pages=n, scenario=s, tool="watcher")
            u = pick(data["runs"], pages=n, scenario=s, tool="urlwatch")
            if not (w and u):
                continue
            flag = "" if w["ok"] and u["ok"] else " ⚠"
            lines.append(
                f"| {n} | {SCENARIO_LABEL[s]} | {w['wall_s']:.2f} s | {u['wall_s']:.2f} s | "
                f"{fmt_ratio(w['wall_s'], u['wall_s'])} | {w['cpu_s']:.2f} s | "
                f"{u['cpu_s']:.2f} s | {fmt_ratio(w['cpu_s'], u['cpu_s'])} | "
                f"{w['peak_mb']:.0f} MB | {u['peak_mb']:.0f} MB | "
                f"{fmt_ratio(w['peak_mb'], u['peak_mb'])} | {w['changes']:.0f} / "
                f"{u['changes']:.0f} (expected {w['expected_changes']}){flag} | "
                f"{w['requests']:.0f} / {u['requests']:.0f} |"
            )
    lines += [
        "",
        "Changes: watcher counts results with status `new` or `changed` in `--json` (each change "
        "confirmed by a second fetch and committed); urlwatch counts `NEW`/`CHANGED` jobs in its "
        "report. Requests: page fetches the server saw during the run (watcher fetches a changed "
        "page a second time to confirm it).",
        "",
        "## The floor: fetch + selectolax parse, nothing else",
        "",
        "Fresh process: one sync `httpx.Client`, `LexborHTMLParser(html).css_first('#root')"
        ".text()` per page; sequential, and in a pool of 4 threads sharing the client.",
        "",
        "| pages | MB | floor, sequential | floor, 4 threads | in-process: fetch / parse "
        "(sequential) | watcher unchanged | × floor |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in data["sizes"]:
        seq = pick(data["floor"], pages=n, threads=1)
        par = pick(data["floor"], pages=n, threads=4)
        w = pick(data["runs"], pages=n, scenario="unchanged", tool="watcher")
        if not (seq and par and w):
            continue
        best = min(seq["wall_s"], par["wall_s"])
        lines.append(
            f"| {n} | {seq['bytes'] / 1e6:.1f} | {seq['wall_s']:.2f} s ({seq['cpu_s']:.2f} s CPU) "
            f"| {par['wall_s']:.2f} s ({par['cpu_s']:.2f} s CPU) | {seq['fetch_s']:.2f} s / "
            f"{seq['parse_s']:.2f} s | {w['wall_s']:.2f} s | {w['wall_s'] / best:.2f}× |"
        )
    lines += [
        "",
        "Floor wall times are whole processes (interpreter start and imports included, as for "
        "the tools); × floor divides by the faster of the two.",
        "",
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
        "## Extract + normalize one page (median per stage)",
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
    lines += [
        "",
        "## Targets (issue 7)",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for t in data["targets"]:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        lines.append(f"| {t['target']} | {t['goal']} | {t['measured']} | {met} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- profile


def stage_of(frames: list[str]) -> str:
    """The pipeline stage a sampled stack belongs to."""
    joined = ";".join(frames)
    checks = (
        ("imports", ("_find_and_load (",)),
        ("record (store + git)", ("_record (",)),
        ("fetch (httpx)", ("_fetch_once (", "HttpFetcher.fetch (")),
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
    """py-spy on a watcher unchanged run over N pages; returns a Markdown report."""
    setup = Setup(n, server.base, template)
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
    state = source_state()
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
    parser.add_argument("--repeat", type=int, help="runs per row (default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="N = 60 only, one run of each")
    parser.add_argument("--sizes", help="comma-separated page counts (default 60,300)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile watcher (py-spy) on 300 pages"
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="only the profile (writes profile.md)"
    )
    parser.add_argument(
        "--profile-pages", type=int, default=300, help="pages in the profiled run (default 300)"
    )
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    if not WATCHER.exists():
        raise SystemExit(
            f"bench: {WATCHER} not found; run with the project's virtualenv: "
            ".venv/bin/python bench/run.py"
        )
    repeat = args.repeat or (1 if args.quick else 5)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([60] if args.quick else [60, 300])
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    env = child_env()
    profiling = args.profile or args.profile_only
    bindir = ensure_bench_venv(("py-spy",) if profiling else ())
    template = make_repo_template(WORK / "runs" / "repo-template")
    command = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    load_before = loadavg()
    log("starting the page server")
    server = Server(env)
    try:
        if not args.profile_only:
            data: dict[str, Any] = {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": machine_info(),
                "command": command.replace("python bench/run.py", ".venv/bin/python bench/run.py"),
                "repeat": repeat,
                "sizes": sizes,
                "load_before": load_before,
                "source": source_state(),
                "pages": {
                    "sources": len(server.info["sources"]),
                    "html": sum(s["name"].endswith(".html") for s in server.info["sources"]),
                    "md": sum(s["name"].endswith(".md") for s in server.info["sources"]),
                    "list": server.info["sources"],
                },
            }
            log("warm-up: one unmeasured run of each tool")
            warm = Setup(min(sizes), server.base, template)
            copy_tree(template, warm.repo("warm"))
            run_watcher(warm, warm.repo("warm"), "warm", env)
            run_urlwatch(warm, warm.cache("warm"), "warm", env, bindir)
            data["startup"] = bench_startup(3 if args.quick else 10, env, bindir)
            data["micro"] = bench_micro(5 if args.quick else 30, env)
            data["floor"] = []
            data["runs"] = []
            for n in sizes:
                data["floor"] += bench_floor(n, repeat, server, env, (1, 4))
                data["runs"] += bench_size(n, repeat, server, template, env, bindir)
            data["load_after"] = loadavg()
            data["source_after"] = source_state()
            if not same_watcher(data["source"], data["source_after"]):
                log("WARNING: watcher/ had uncommitted changes or changed during the run")
            data["targets"] = targets_check(data)
            text = markdown(data)
            (out_dir / "latest.md").write_text(text)
            (out_dir / "latest.json").write_text(json.dumps(data, indent=1) + "\n")
            print(text)
            log(f"wrote {out_dir / 'latest.md'} and {out_dir / 'latest.json'}")
        if profiling:
            report = profile(args.profile_pages, server, template, env, bindir)
            (out_dir / "profile.md").write_text(report)
            print(report)
            log(f"wrote {out_dir / 'profile.md'}")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
