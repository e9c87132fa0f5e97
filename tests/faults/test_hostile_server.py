"""`watcher run` against a server that misbehaves: slow, wrongly framed, compressed into
bombs, redirecting where it should not, nested without end, in another charset.

Each case first records a good page, then serves the hostile response and runs
`python -m watcher run` as its own process, so that its wall time and peak memory are its
own (os.wait4). Each expects a status, a reason, the snapshot untouched, and bounds on time
and memory. The table of what each case cost is printed at the end of the module."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hostile
import pytest
from conftest import git, page_html, policy_target, run_json, write_config
from hostile import HostileServer, chunks, drip, huge_headers, redirect, send, short_body

from watcher.errors import FetchError
from watcher.fetch.http import HttpFetcher
from watcher.models import FetchSettings, Region

TIMEOUT = 3.0  # fetch.timeout in these runs; every bound below is in its terms
STARTUP = 3.0  # a run's own start and end (Python, imports, git) on a slow machine
MAX_BYTES = 2_000_000
BOMB = 256 * 1024 * 1024  # decoded size of each bomb: far past the cap and any sane memory
PEAK_MB = 100  # a run's peak RSS (about 40 MB at rest); decoding a bomb whole costs hundreds
TARGET = "facebook-privacy-policy"
PAGE = "facebook/privacy-policy-us/2026-03-05.md"
US = Region("us", "US", direct=True)


@functools.cache
def good_page() -> bytes:
    """A real policy page, with the typographic apostrophes Meta's pages use."""
    return page_html(PAGE).replace("'", "\u2019").encode("utf-8")


def cp1252_page() -> bytes:
    html = (
        good_page()
        .decode("utf-8")
        .replace('<meta charset="utf-8">', '<meta charset="windows-1252">')
    )
    return html.encode("cp1252")


def deep_page(levels: int = 100_000) -> bytes:
    html = good_page().decode("utf-8")
    return html.replace("<body>", "<body>" + "<div>" * levels + "x" + "</div>" * levels, 1).encode()


def _zeros(compressor: Any, finish: Callable[[], bytes], size: int = BOMB) -> bytes:
    block = b"\0" * (1 << 20)
    return b"".join([compressor(block) for _ in range(size >> 20)] + [finish()])


@functools.cache
def gzip_bomb() -> bytes:
    """One gzip member of BOMB zero bytes (about 250 KB)."""
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return _zeros(c.compress, c.flush)


@functools.cache
def double_gzip_bomb() -> bytes:
    """The gzip bomb gzipped again: about 600 bytes, for `Content-Encoding: gzip, gzip`."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(gzip_bomb()) + c.flush()


@functools.cache
def brotli_bomb() -> bytes:
    brotli = pytest.importorskip("brotli")
    c = brotli.Compressor(quality=1)
    return _zeros(c.process, c.finish)


@functools.cache
def zstd_bomb() -> bytes:
    zstandard = pytest.importorskip("zstandard")
    c = zstandard.ZstdCompressor(level=1).compressobj()
    return _zeros(c.compress, c.flush)


ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Sorry, something "
    b"went wrong.</h1><p>We're working on getting this fixed as soon as we can.</p></body></html>"
)


@dataclass
class Case:
    name: str
    serve: Callable[[HostileServer], hostile.Behaviour]
    status: str
    reason: str  # in the result's error ("" when there is none)
    max_s: float  # wall time of the whole `watcher run` process


def bomb(make: Callable[[], bytes], encoding: str) -> Callable[[HostileServer], hostile.Behaviour]:
    return lambda _s: send(make(), headers={"Content-Encoding": encoding})


def loop(server: HostileServer) -> hostile.Behaviour:
    server.routes["/loop-a"] = redirect("/loop-b")
    server.routes["/loop-b"] = redirect("/loop-a")
    return redirect("/loop-a")


def cross_host(server: HostileServer) -> hostile.Behaviour:
    # the same machine under another name: to watcher, another host serving the "same" page
    server.routes["/elsewhere"] = send(good_page())
    return redirect(server.url("/elsewhere", host="localhost"))


ONE_ATTEMPT = TIMEOUT + STARTUP
TWO_ATTEMPTS = 2 * TIMEOUT + STARTUP
CASES = [
    Case(
        "slow drip (1 byte / 2 s)",
        lambda _s: drip(good_page(), 2.0),
        "error",
        "was still sending",
        ONE_ATTEMPT,
    ),
    Case(
        "slow headers (1 byte / 0.5 s)",
        lambda _s: drip(good_page(), 0.5, headers_too=True),
        "error",
        "no complete response",
        TWO_ATTEMPTS,
    ),
    Case(
        "slow chunks (20, 2.5 s apart)",
        lambda _s: chunks(good_page(), 20, 2.5),
        "error",
        "was still sending",
        ONE_ATTEMPT,
    ),
    Case(
        "content-length longer, then stalls",
        lambda _s: short_body(good_page()[:1000], len(good_page()), hold=True),
        "error",
        "was still sending",
        ONE_ATTEMPT,
    ),
    Case(
        "content-length longer, then closes",
        lambda _s: short_body(good_page()[:50_000], len(good_page()), hold=False),
        "error",
        "connection broke",
        ONE_ATTEMPT,
    ),
    Case("gzip bomb", bomb(gzip_bomb, "gzip"), "error", "page larger than", ONE_ATTEMPT),
    Case(
        "gzip, gzip bomb (600 B)",
        bomb(double_gzip_bomb, "gzip, gzip"),
        "error",
        "page larger than",
        ONE_ATTEMPT,
    ),
    Case("brotli bomb", bomb(brotli_bomb, "br"), "error", "page larger than", ONE_ATTEMPT),
    Case("zstd bomb", bomb(zstd_bomb, "zstd"), "error", "page larger than", ONE_ATTEMPT),
    Case(
        "unknown content-encoding",
        lambda _s: send(gzip_bomb()[:4000], headers={"Content-Encoding": "compress"}),
        "error",
        "refused Content-Encoding 'compress'",
        ONE_ATTEMPT,
    ),
    Case("redirect loop", loop, "error", "redirect loop", ONE_ATTEMPT),
    Case("cross-host redirect", cross_host, "error", "to another host, localhost", ONE_ATTEMPT),
    Case(
        "redirect to file://",
        lambda _s: redirect("file:///etc/passwd"),
        "error",
        "non-http(s) address (file:)",
        ONE_ATTEMPT,
    ),
    Case(
        "huge headers (200 × 1 KB)",
        lambda _s: huge_headers(200, 1000),
        "error",
        "headers are too large",
        ONE_ATTEMPT,
    ),
    Case(
        "100,000 nested <div>s",
        lambda _s: send(deep_page()),
        "error",
        "nested deeper than 512 levels",
        ONE_ATTEMPT,
    ),
    Case(
        "windows-1252 page, charset in <meta> only",
        lambda _s: send(cp1252_page(), content_type="text/html"),
        "unchanged",
        "",
        ONE_ATTEMPT,
    ),
    Case("200 with an empty body", lambda _s: send(b""), "error", "empty response", ONE_ATTEMPT),
    Case(
        "HTML error page with 200",
        lambda _s: send(ERROR_PAGE),
        "blocked",
        "something went wrong",
        ONE_ATTEMPT,
    ),
]

MEASURED: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[HostileServer]:
    made = HostileServer()
    yield made
    made.close()
    if MEASURED:
        lines = [
            "",
            "hostile server: what each case cost (wall s and peak RSS of `watcher run`)",
            f"{'case':45} {'expected':10} {'got':10} {'wall s':>7} {'peak MB':>8}",
        ]
        for m in MEASURED:
            lines.append(
                f"{m['case']:45} {m['expected']:10} {m['got']:10} {m['wall_s']:7.2f} "
                f"{m['peak_mb']:8.1f}"
            )
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        for line in lines:
            if reporter is not None:
                reporter.write_line(line)
        table = os.environ.get("WATCHER_FAULTS_TABLE")
        if table:
            Path(table).write_text(json.dumps(MEASURED, indent=1))


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# Runs watcher as `python -m watcher` would, and at exit writes the process's own peak RSS
# (VmHWM) to the file named first. ru_maxrss cannot tell it: a child started by fork or
# vfork starts with its parent's high-water mark, here the whole test session's.
WRAPPER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status, open(out, "w") as f:
        f.write(next(line for line in status if line.startswith("VmHWM:")))
atexit.register(peak)
runpy.run_module("watcher", run_name="__main__", alter_sys=True)
"""


def run_process(config: Path, repo: Path, limit: float = 120) -> tuple[int, str, str, float, float]:
    """`python -m watcher run --json --no-notify` as a process of its own: (exit status,
    stdout, stderr, wall seconds, peak RSS in MB). Killed after `limit` seconds."""
    hwm = config.parent / "vmhwm.txt"
    hwm.unlink(missing_ok=True)
    argv = [sys.executable, "-c", WRAPPER, str(hwm), "run", "--config", str(config)]
    argv += ["--snapshots", str(repo / "snapshots"), "--json", "--no-notify"]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=limit)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, "", str(exc.stderr or "")
    wall = time.monotonic() - started
    peak = float("nan")
    if hwm.exists():  # "VmHWM:    61234 kB"
        peak = int(hwm.read_text().split()[1]) / 1024
    return code, out, err, wall, peak


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_response_is_an_error_in_bounded_time_and_memory(
    case: Case,
    server: HostileServer,
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = f"/policy-{len(MEASURED)}-{abs(hash(case.name))}"
    config = write_config(
        tmp_path / "targets.yaml",
        [policy_target(server.url(path), regions=["us"])],
        fetch={"timeout": TIMEOUT, "retries": 1, "backoff": 0, "max_bytes": MAX_BYTES},
    )
    server.routes[path] = send(good_page())
    [first] = run_json(config, repo, capsys)["results"]
    assert first["status"] == "new", first
    folder = repo / "snapshots" / TARGET
    before = _tree(folder)
    evidence = git(repo, "log", "--format=%H", "--", f"snapshots/{TARGET}")

    server.routes[path] = case.serve(server)
    code, out, err, wall, peak = run_process(config, repo)
    got = "?"
    if code == 0:
        got = json.loads(out)["results"][0]["status"]
    MEASURED.append(
        {
            "case": case.name,
            "expected": case.status,
            "got": got if code == 0 else f"exit {code}",
            "wall_s": wall,
            "peak_mb": peak,
        }
    )
    assert code == 0, err[-2000:]
    [result] = json.loads(out)["results"]
    assert result["status"] == case.status, result
    if case.reason:
        assert case.reason in (result["error"] or ""), result["error"]
    assert "Traceback" not in err
    assert _tree(folder) == before, "the snapshot was touched"
    assert git(repo, "log", "--format=%H", "--", f"snapshots/{TARGET}") == evidence
    assert wall <= case.max_s, f"took {wall:.1f} s"
    assert peak <= PEAK_MB, f"peak RSS {peak:.0f} MB"


# -- the fetcher alone -------------------------------------------------------------------------


def fetcher(**settings: Any) -> HttpFetcher:
    base = {"timeout": 2, "connect_timeout": 1, "retries": 0, "backoff": 0, "max_bytes": MAX_BYTES}
    return HttpFetcher(FetchSettings(**{**base, **settings}), {"us": US})


def test_a_redirect_to_a_listed_host_is_followed_and_the_final_url_recorded(server: HostileServer):
    server.routes["/moved"] = redirect(server.url("/landing", host="localhost"))
    server.routes["/landing"] = send(b"<html><body><p>here</p></body></html>")
    with fetcher() as f:
        with pytest.raises(FetchError, match="to another host, localhost"):
            f.fetch(server.url("/moved"), US)
        page = f.fetch(server.url("/moved"), US, allow_hosts=("localhost",))
    assert page.url == server.url("/moved")
    assert page.final_url == server.url("/landing", host="localhost")
    assert "here" in page.content


def test_region_cookies_are_not_sent_to_another_host(server: HostileServer):
    server.routes["/c"] = redirect(server.url("/c2", host="localhost"))
    server.routes["/c2"] = send(b"<p>ok</p>")
    region = Region("us", "US", direct=True, cookies={"locale": "en_GB"})
    with HttpFetcher(FetchSettings(timeout=2, retries=0), {"us": region}) as f:
        f.fetch(server.url("/c"), region, allow_hosts=["*.localhost", "localhost"])
    first, second = server.requests[-2:]
    assert first.headers.get("cookie") == "locale=en_GB"
    assert "cookie" not in second.headers


def test_each_attempt_has_one_deadline_across_redirects(server: HostileServer):
    """Three redirects that each take most of the timeout add up past it."""

    def slow_redirect(target: str) -> hostile.Behaviour:
        def behave(sock: Any, req: Any) -> None:
            time.sleep(0.8)
            redirect(target)(sock, req)

        return behave

    server.routes["/hop0"] = slow_redirect("/hop1")
    server.routes["/hop1"] = slow_redirect("/hop2")
    server.routes["/hop2"] = slow_redirect("/hop3")
    server.routes["/hop3"] = send(b"<p>end</p>")
    started = time.monotonic()
    with fetcher(timeout=2) as f, pytest.raises(FetchError, match=r"within fetch\.timeout"):
        f.fetch(server.url("/hop0"), US)
    assert time.monotonic() - started < 2.5


def test_a_bomb_costs_little_memory_in_process(server: HostileServer):
    """The decoder's own allocations, traced: a few pieces, never the expansion."""
    import tracemalloc

    server.routes["/bomb"] = send(double_gzip_bomb(), headers={"Content-Encoding": "gzip, gzip"})
    with fetcher() as f:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match="page larger than"):
                f.fetch(server.url("/bomb"), US)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * MAX_BYTES + (4 << 20), f"{peak / 1e6:.1f} MB traced"


def test_pages_not_started_by_the_run_deadline_are_errors(
    server: HostileServer, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    page = good_page()
    server.routes["/first"] = chunks(page, 3, 0.7)  # about 2 s, within its timeout
    server.routes["/second"] = send(page)
    config = write_config(
        tmp_path / "targets.yaml",
        [
            policy_target(server.url("/first"), regions=["us"]),
            policy_target(server.url("/second"), id="second-policy", regions=["us"]),
        ],
        fetch={
            "timeout": TIMEOUT,
            "retries": 0,
            "concurrency": 1,
            "run_deadline": 1,
            "confirm": False,  # one fetch a page: the second page is the one not started
        },
    )
    first, second = run_json(config, repo, capsys)["results"]
    assert first["status"] == "new"
    assert second["status"] == "error"
    assert second["error"].startswith("run deadline reached")
    assert not (repo / "snapshots" / "second-policy").exists()
