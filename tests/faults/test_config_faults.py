"""Bad targets.yaml files: `watcher validate` and `watcher run` both refuse each one with exit
status 2 and a message naming the place, never a traceback, a hang or a crash later in the
run. Both run as processes of their own, bounded in time, as a user or the job runs them."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import policy_target, write_config

from watcher.config import load_config
from watcher.errors import ConfigError

SECRET = "s3cr3tPassw0rd"
URL = "http://127.0.0.1:9/privacy/policy/printable/"  # never fetched: the config is refused


def base() -> dict[str, Any]:
    return {"targets": [policy_target(URL, regions=["us"])]}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        node[int(last) if last.isdigit() else last] = value

    return edit


@dataclass
class Case:
    name: str
    edit: Callable[[dict[str, Any]], None] | None  # a change to a valid config's data
    expected: str  # in the message, after "<file>: "
    text: Callable[[str], str] | None = None  # or a change to the valid file's text

    @property
    def place(self) -> str:
        """What follows the file's name: the YAML-level problems name a line."""
        return (
            r"line \d+, column \d+: "
            if self.text is not None and "bytes" not in self.expected
            else ""
        )


FIRST_TARGET = "- id: facebook-privacy-policy\n"  # as write_config writes it


def billion_laughs(text: str) -> str:
    """Nine levels of nine aliases (9^9 = 387 million strings) under a used key."""
    levels = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"&{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    tags = "  tags: [" + ", ".join(levels) + "]\n  fetcher: *i\n"
    return text.replace(FIRST_TARGET, FIRST_TARGET + tags)


CASES = [
    Case(
        "user_agent format field {0}",
        _set("fetch.user_agent", "watcher {0} {"),
        "fetch.user_agent: is not a valid template",
    ),
    Case(
        "user_agent attribute lookup",
        _set("fetch.user_agent", "watcher {version.__class__}"),
        "fetch.user_agent: may name only {version} in braces, not {version.__class__}",
    ),
    Case("timeout .inf", _set("fetch.timeout", float("inf")), "fetch.timeout: must be a finite"),
    Case("timeout .nan", _set("fetch.timeout", float("nan")), "fetch.timeout: must be a finite"),
    Case("backoff 1e308", _set("fetch.backoff", 1e308), "fetch.backoff: must be at most 3600"),
    Case("retries huge", _set("fetch.retries", 10**12), "fetch.retries: must be at most 100"),
    Case("run_deadline 0", _set("fetch.run_deadline", 0), "fetch.run_deadline: must be at least 1"),
    Case(
        "header name with a space",
        _set("regions.us.headers", {"Accept Language": "en"}),
        "regions.us.headers.Accept Language: is not a valid header name",
    ),
    Case(
        "header value not Latin-1",
        _set("regions.us.headers", {"Accept-Language": "en-GB \u2713"}),
        "regions.us.headers.Accept-Language: must be Latin-1",
    ),
    Case(
        "header value with CR/LF",
        _set("regions.us.headers", {"X-Note": "a\r\nX-Injected: 1"}),
        "regions.us.headers.X-Note: must not contain line breaks",
    ),
    Case(
        "Host header",
        _set("regions.us.headers", {"Host": "evil.example"}),
        "regions.us.headers.Host: is set by watcher itself",
    ),
    Case(
        "cookie value with a semicolon",
        _set("regions.us.cookies", {"locale": "en_GB; admin=1"}),
        "regions.us.cookies.locale: is not a valid cookie value",
    ),
    Case(
        "cookie value not ASCII",
        _set("regions.us.cookies", {"locale": "fr_\u00c7A"}),
        "regions.us.cookies.locale: is not a valid cookie value",
    ),
    Case(
        "regex (a+)+",
        _set("targets.0.extract.phrases", ["(a+)+"]),
        "targets[0].extract.phrases[0]: regular expression '(a+)+' can take exponential time",
    ),
    Case(
        "regex (\\w+\\s?)+$ (hangs on real text)",
        _set("targets.0.extract.headings", [r"^(\w+\s?)+$"]),
        "targets[0].extract.headings[0]: regular expression",
    ),
    Case(
        "regex (a|a)* in a category",
        _set("categories", {"opt_out": ["(a|a)*b"]}),
        "categories.opt_out[0]: regular expression '(a|a)*b' can take exponential time",
    ),
    Case(
        "regex (.*)*",
        _set("targets.0.extract.phrases", ["(.*)*x"]),
        "targets[0].extract.phrases[0]: regular expression '(.*)*x' can take exponential time",
    ),
    Case(
        "credentials in the target URL",
        _set("targets.0.url", f"https://watch:{SECRET}@mbasic.facebook.com/privacy/"),
        "targets[0].url: must not hold credentials (https://****@mbasic.facebook.com/privacy/)",
    ),
    Case(
        "credentials in base_url",
        _set("targets.0.base_url", f"https://{SECRET}@www.facebook.com/"),
        "targets[0].base_url: must not hold credentials",
    ),
    Case(
        "port out of range",
        _set("targets.0.url", "https://www.facebook.com:99999/privacy/"),
        "targets[0].url: is not a valid URL",
    ),
    Case(
        "invalid CSS root selector",
        _set("targets.0.extract.root", ["#root["]),
        "targets[0].extract.root[0]: invalid CSS selector",
    ),
    Case(
        "allow_redirect_hosts with a URL",
        _set("targets.0.allow_redirect_hosts", ["https://www.facebook.com/"]),
        "targets[0].allow_redirect_hosts[0]: must be a host name",
    ),
    Case(
        "billion laughs under a used key",
        None,
        "the aliases here expand to more than 100000 values",
        billion_laughs,
    ),
    Case(
        "a second targets: key",
        None,
        "duplicate key 'targets' (first on line",
        lambda text: text + "targets: []\n",
    ),
    Case(
        "a duplicate key inside a target",
        None,
        "duplicate key 'url' (first on line",
        lambda text: text.replace(
            FIRST_TARGET, FIRST_TARGET + "  url: http://a.example/\n  url: http://b.example/\n"
        ),
    ),
    Case(
        "an alias to the value holding it",
        None,
        "an alias refers to the value that holds it",
        lambda text: text + "x-loop: &x {routes: [*x]}\n",
    ),
    Case(
        "a file over 1 MB",
        None,
        "file is larger than 1000000 bytes",
        lambda text: text + "# " + "x" * 1_100_000 + "\n",
    ),
]


def bad_config(case: Case, folder: Path) -> Path:
    data = base()
    path = write_config(folder / "targets.yaml", data["targets"])
    if case.edit is not None:
        loaded = yaml.safe_load(path.read_text())
        case.edit(loaded)
        path.write_text(yaml.safe_dump(loaded, sort_keys=False, allow_unicode=True))
    if case.text is not None:
        path.write_text(case.text(path.read_text()))
    return path


def watcher(*args: str, cwd: Path, limit: float = 30) -> tuple[int, str, str, float]:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "watcher", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return -9, "", f"killed after {limit} s", time.monotonic() - started
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("verb", ["validate", "run"])
def test_a_bad_config_is_refused_with_its_place_and_exit_2(
    case: Case, verb: str, tmp_path: Path
) -> None:
    config = bad_config(case, tmp_path)
    args = ["--config", str(config)]
    if verb == "run":
        args += ["--snapshots", str(tmp_path / "snapshots"), "--json", "--no-notify"]
    code, out, err, wall = watcher(verb, *args, cwd=tmp_path)
    assert code == 2, f"exit {code}\n{out[-1000:]}\n{err[-2000:]}"
    assert re.search(re.escape(f"{config}: ") + case.place + re.escape(case.expected), err), err[
        -2000:
    ]
    assert "Traceback" not in err
    assert SECRET not in out + err
    assert wall < 10


def test_the_base_config_of_these_cases_is_valid(tmp_path: Path) -> None:
    config = write_config(tmp_path / "targets.yaml", base()["targets"])
    assert load_config(config).targets[0].url == URL


def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path) -> None:
    config = bad_config(next(c for c in CASES if c.name.startswith("billion")), tmp_path)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match="expand to more than"):
            load_config(config)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert peak < 5_000_000, f"{peak / 1e6:.1f} MB"


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["fetch"]["timeout"] = float("inf")
        data["fetch"]["user_agent"] = "{0}"
        data["regions"]["us"]["cookies"] = {"a": "b c"}
        data["targets"][0]["extract"]["phrases"] = ["(x+)+y"]

    config = bad_config(Case("many", edit, ""), tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    places = sorted(p.split(": ")[1] for p in info.value.problems)
    assert places == [
        "fetch.timeout",
        "fetch.user_agent",
        "regions.us.cookies.a",
        "targets[0].extract.phrases[0]",
    ]


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    """`<<: *base` and then a key of its own is not a duplicate."""
    config = write_config(tmp_path / "targets.yaml", base()["targets"])
    text = config.read_text().replace(
        "targets:\n",
        "x-shared: &shared {min_length: 100, expect: [Privacy Policy]}\ntargets:\n",
    )
    text = text.replace(
        FIRST_TARGET, "- <<: *shared\n  min_length: 20000\n  id: facebook-privacy-policy\n"
    )
    text = text.replace("  min_length: 20000\n  expect:\n  - Privacy Policy\n", "", 1)
    config.write_text(text)
    with pytest.raises(ConfigError) as info:  # x-shared is an unknown top-level key...
        load_config(config)
    assert [p.split(": ")[1] for p in info.value.problems] == ["x-shared"]  # ...and only that
