"""Time and peak memory of a browser run: `watcher run` over the shipped genai and Instagram
targets (3 regions each, 6 pages), their real text built by JavaScript on 127.0.0.1.

    .venv/bin/python bench/browser_bench.py              # 3 repetitions (~1 min)
    .venv/bin/python bench/browser_bench.py --repeat 1   # a quick look

No network: the pages (the Privacy Center genai text and the EU, UK and US Instagram
policies from tests/fixtures/ota) are served by the tests' origin, and EU/UK egress goes
through the tests' region proxies, all in this process. The pages are the ones
tests/test_browser.py uses: built by a script 300 ms after load, Instagram in 8 pieces
100 ms apart. Needs the test extra (`scripts/setup` installs it) and Chromium.

Each run is `watcher run --json --no-notify` in a child process with the shipped fetch
settings (timeout 30 s, concurrency 4). Measured: wall time; peak memory of the child's
whole process tree (watcher, Playwright's driver and every Chromium process), sampled every
20 ms from /proc as the sum of RSS (counts shared pages once per process, so it overstates)
and the sum of PSS (shares them out: the memory the tree really costs); the peak number of
processes. Scenarios: *first* (empty repository: 6 pages recorded and committed) and
*unchanged* (the next run: nothing changed). For scale, the same pages server-rendered and
fetched with `fetcher: http`.

Results: printed, and written to bench/results/browser.md and browser.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import (  # noqa: E402  (the tests' servers and pages, on purpose)
    SHIPPED,
    Origin,
    RegionProxy,
    fixture_text,
    genai_html,
    js_page,
    shipped_target,
    static_page,
    write_config,
)

from watcher.fetch.browser import browser_missing, find_chromium  # noqa: E402
from watcher.page import markdown_to_html  # noqa: E402

WATCHER = ROOT / ".venv" / "bin" / "watcher"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
INSTAGRAM = {
    "eu": "instagram/privacy-policy/2025-12-17.md",
    "uk": "instagram/privacy-policy-gb-alt/2026-01-06.md",
    None: "instagram/privacy-policy-us/2025-12-16.md",
}


def body_of(name: str) -> str:
    html = markdown_to_html(fixture_text(name))
    return html.removeprefix("<html><body>").removesuffix("</body></html>")


def serve(origin: Origin, rendered_by: str) -> None:
    """The genai page (one text for every region) and Instagram's policy per region."""
    if rendered_by == "browser":
        origin.page("/privacy/genai", js_page(genai_html(), delay_ms=300))
        origin.page(
            "/policy",
            {
                region: js_page(body_of(name), "Instagram", delay_ms=200, chunks=8)
                for region, name in INSTAGRAM.items()
            },
        )
    else:
        origin.page("/privacy/genai", static_page(genai_html()))
        origin.page(
            "/policy",
            {r: static_page(body_of(name), "Instagram") for r, name in INSTAGRAM.items()},
        )


def config(origin: Origin, folder: Path, fetcher: str) -> Path:
    shipped = yaml.safe_load(SHIPPED.read_text())
    targets = [
        shipped_target("privacy-center-genai", url=origin.url("/privacy/genai"), fetcher=fetcher),
        shipped_target("instagram-privacy-policy", url=origin.url("/policy"), fetcher=fetcher),
    ]
    return write_config(folder / f"{fetcher}.yaml", targets, fetch=shipped["fetch"])


def new_repo(folder: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=folder))
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "Bench"],
        ["config", "user.email", "bench@example.invalid"],
        ["config", "commit.gpgsign", "false"],
        ["commit", "-q", "--allow-empty", "-m", "Start"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "snapshots").mkdir()
    return root


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pids: list[int]) -> tuple[int, int, int]:
    """(RSS sum, PSS sum, live processes) of `pids`, in bytes."""
    rss = pss = alive = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                resident = int(f.read().split()[1]) * PAGE_SIZE
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue  # exited, or a zombie
        rss += resident
        alive += 1
    return rss, pss, alive


def measure(cfg: Path, repo: Path, env: dict[str, str]) -> dict[str, Any]:
    command = [
        str(WATCHER),
        "run",
        "--config",
        str(cfg),
        "--snapshots",
        str(repo / "snapshots"),
        "--json",
        "--no-notify",
    ]
    peak = {"rss": 0, "pss": 0, "processes": 0}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss, alive = memory(tree(child.pid))
            peak["rss"] = max(peak["rss"], rss)
            peak["pss"] = max(peak["pss"], pss)
            peak["processes"] = max(peak["processes"], alive)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"watcher run failed ({child.returncode}):\n{err.decode()}")
    report = json.loads(out)
    left = [p for p in tree(os.getpid()) if p != os.getpid()]
    return {
        "wall_s": wall,
        "run_s": report["duration_s"],
        "peak_rss": peak["rss"],
        "peak_pss": peak["pss"],
        "peak_processes": peak["processes"],
        "statuses": sorted(r["status"] for r in report["results"]),
        "processes_left": len(left),
    }


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        raise SystemExit(f"browser_bench: the browser fetcher cannot run here: {missing}")

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    origin = Origin()
    proxies = {code: RegionProxy(code) for code in ("eu", "uk")}
    for code, proxy in proxies.items():
        env[f"WATCHER_PROXY_{code.upper()}"] = proxy.url
    samples: dict[str, list[dict[str, Any]]] = {}
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="browser-bench-") as tmp:
            folder = Path(tmp)
            for fetcher in ("browser", "http"):
                serve(origin, fetcher)
                cfg = config(origin, folder, fetcher)
                for _ in range(args.repeat):
                    repo = new_repo(folder)
                    for scenario in ("first", "unchanged"):
                        sample = measure(cfg, repo, env)
                        samples.setdefault(f"{fetcher}/{scenario}", []).append(sample)
                        print(f"{fetcher:7} {scenario:9} {sample}", file=sys.stderr)
    finally:
        origin.close()
        for proxy in proxies.values():
            proxy.close()

    chromium = find_chromium()[0] or "?"
    version = subprocess.run(
        [chromium, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# Browser run: time and peak memory",
        "",
        f"`watcher run` over privacy-center-genai and instagram-privacy-policy × eu, uk, us "
        f"(6 pages), median of {args.repeat} (memory: the highest).",
        "",
        "| fetcher | run | wall | peak RSS (sum) | peak PSS (sum) | processes | statuses |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, runs in samples.items():
        fetcher, scenario = key.split("/")
        statuses = sorted({s for r in runs for s in r["statuses"]})
        lines.append(
            f"| {fetcher} | {scenario} | {statistics.median(r['wall_s'] for r in runs):.2f} s "
            f"| {mib(max(r['peak_rss'] for r in runs))} | {mib(max(r['peak_pss'] for r in runs))} "
            f"| {max(r['peak_processes'] for r in runs)} | {', '.join(statuses)} |"
        )
    left = max(r["processes_left"] for runs in samples.values() for r in runs)
    lines += [
        "",
        f"Processes left behind after a run: {left}. Chromium: {version} ({chromium}). "
        f"{platform.platform()}, {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "browser.md").write_text(text)
    (args.out / "browser.json").write_text(json.dumps(samples, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
