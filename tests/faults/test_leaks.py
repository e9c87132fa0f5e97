"""No secret leaves watcher: with notification URLs (a password, a token), proxy
credentials (a proxy that demands them, and one given the wrong ones) and a delivery key
set, every verb that reads them runs, with -v, in GitHub Actions mode (annotations and a
step summary file), through a change, a failing page and its failure alert, and every
output is searched: stdout, stderr, the JSON, the step summary, what the alert sink
received, every file of the checkout (the .git folder's included) and every git object.

A secret is looked for whole, case-folded, in each of its 6-character pieces, URL-encoded,
in base64 (alone and as the `user:password` of a Basic header), as the bare sha256 prefix
the outbox once recorded, and in apprise's partial forms (`f...l`, `...last4`)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import crashkit as ck
import pytest
from crashkit import Sink, Trial, World

# random-looking, so that no page, diff or hash holds a 6-character piece of one by chance
SINK_PASSWORD = "Qm7Xr2Kv9Lp4Wd"
SINK_TOKEN = "Tz8Hn3Bq6Jc1Fy5Ug"
DEAD_PASSWORD = "Dp4Ns9Wk2Hq7Mx"
DEAD_TOKEN = "Vr6Cy1Lt8Pz3Ka"
PROXY_USER = "Rb5GwUq2Ej"
PROXY_PASSWORD = "Xk2Md7Qs4Nf9Jh"
UK_USER = "Lp3TcAe8Vo"
UK_PASSWORD = "Wy8Pu3Zx5Ye1Gs"  # what the UK job is given; its proxy wants other ones
UK_WANTED = ("Hn4KjZ7Tq2", "Ob6Mr1Wv9Ic3Du")
DELIVERY_KEY = "Dk5Rv8Ws1Yb4Gn7Hm"
SECRETS = [
    SINK_PASSWORD,
    SINK_TOKEN,
    DEAD_PASSWORD,
    DEAD_TOKEN,
    PROXY_USER,
    PROXY_PASSWORD,
    UK_USER,
    UK_PASSWORD,
    *UK_WANTED,
    DELIVERY_KEY,
]
TARGET = "facebook-privacy-policy"


def forms(secret: str) -> dict[str, str]:
    """Every form of `secret` to look for (lower-cased, as the search is case-folded)."""
    out = {
        "whole": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 (urlsafe)": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "sha256 prefix": hashlib.sha256(secret.encode()).hexdigest()[:16],
        "apprise outer": f"{secret[0]}...{secret[-1]}",
        "apprise tail": f"...{secret[-4:]}",
    }
    for i in range(len(secret) - 5):
        out[f"piece {i}"] = secret[i : i + 6]
    return {f"{secret} {k}": v.lower() for k, v in out.items()}


def needles(urls: list[str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """form name -> lower-cased text to look for."""
    found: dict[str, str] = {}
    for secret in SECRETS:
        found.update(forms(secret))
    for user, password in pairs:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode().lower()
        found[f"{user}:{password} basic"] = basic
    for url in urls:
        found[f"{url} whole"] = url.lower()
        found[f"{url} sha256 prefix"] = hashlib.sha256(url.encode()).hexdigest()[:16]
        found[f"{url} base64"] = base64.b64encode(url.encode()).decode().lower()
    return found


def leaks(outputs: dict[str, str], look_for: dict[str, str]) -> list[str]:
    out = []
    for where, text in outputs.items():
        low = text.lower()
        for name, needle in look_for.items():
            at = low.find(needle)
            if at >= 0:
                context = text[max(0, at - 60) : at + len(needle) + 60].replace("\n", " ")
                out.append(f"{where}: {name}: …{context}…")
    return out


def git_objects(repo: Path) -> str:
    """Every object of the repository, decompressed (commits, trees, blobs)."""
    done = subprocess.run(
        [ck.REAL_GIT, "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("utf-8", "replace")


def files(root: Path) -> dict[str, str]:
    """Every file under `root` but git's object store (searched decompressed instead)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "objects" not in path.relative_to(root).parts:
            out[str(path.relative_to(root))] = path.read_bytes().decode("utf-8", "replace")
    return out


@pytest.fixture
def auth_proxies() -> Iterator[dict[str, ck.RegionProxy]]:
    made = {
        "eu": ck.RegionProxy("eu", auth=(PROXY_USER, PROXY_PASSWORD)),
        "uk": ck.RegionProxy("uk", auth=UK_WANTED),
    }
    yield made
    for proxy in made.values():
        proxy.close()


def _proxy_url(proxy: ck.RegionProxy, user: str, password: str) -> str:
    return f"http://{user}:{password}@127.0.0.1:{proxy.port}"


def test_no_secret_reaches_any_output_of_any_verb(origin, auth_proxies, tmp_path):
    sink = Sink()
    dead = ck.free_port()
    good_url = f"json://hook:{SINK_PASSWORD}@127.0.0.1:{sink.port}/notify/{SINK_TOKEN}"
    dead_url = f"json://relay:{DEAD_PASSWORD}@127.0.0.1:{dead}/hooks/{DEAD_TOKEN}"
    eu_proxy = _proxy_url(auth_proxies["eu"], PROXY_USER, PROXY_PASSWORD)
    uk_proxy = _proxy_url(auth_proxies["uk"], UK_USER, UK_PASSWORD)
    repo = ck.new_repo(tmp_path / "evidence")
    summary = tmp_path / "step-summary.md"
    config = ck.write_config(
        tmp_path / "targets.yaml",
        [ck.policy_target(origin.url("/policy"), regions=["eu", "uk"])],
        alerts={"failure_threshold": 1},
    )
    env = ck.base_env(
        None,
        APPRISE_URLS=good_url,
        WATCHER_PROXY_EU=eu_proxy,
        WATCHER_PROXY_UK=uk_proxy,
        WATCHER_DELIVERY_KEY=DELIVERY_KEY,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_ACTIONS="true",
        GITHUB_REPOSITORY="someone/evidence",
        GITHUB_REF_NAME="main",
    )
    common = ["--config", str(config), "--snapshots", str(repo / "snapshots")]
    outputs: dict[str, str] = {}

    def watcher(name: str, *args: str, expect: int | None = 0, **extra: str) -> ck.Done:
        done = ck.run_proc(
            [ck.PY, "-m", "watcher", "-v", *args], repo, {**env, **extra}, timeout=120
        )
        outputs[f"{name} stdout"] = done.stdout
        outputs[f"{name} stderr"] = done.stderr
        if expect is not None:
            assert done.returncode == expect, f"{name}: {done.stderr[-3000:]}"
        return done

    try:
        origin.page("/policy", {"eu": ck.fixture_text(ck.EU_A)})
        first = watcher("run 1", "run", "--json", *common)
        statuses = {r["region"]: r["status"] for r in first.json()["results"]}
        assert statuses["eu"] == "new" and statuses["uk"] == "error", statuses
        assert "407" in json.dumps(first.json()), "the UK proxy refused the credentials"
        assert auth_proxies["eu"].requests, "the EU fetches went through its proxy, with auth"
        origin.page("/policy", {"eu": ck.fixture_text(ck.EU_B)})
        second = watcher("run 2", "run", "--json", "--no-notify", *common)
        assert {r["region"]: r["status"] for r in second.json()["results"]}["eu"] == "changed"
        watcher("notify", "notify", *common)
        assert any("Meta Privacy Policy (EU)" in t for t in sink.texts()), sink.texts()
        assert any("failing" in t.lower() or "fail" in t.lower() for t in sink.texts())
        watcher(
            "notify --test", "notify", "--test", *common,
            expect=1, APPRISE_URLS=f"{good_url} {dead_url}",
        )  # fmt: skip
        watcher("check eu", "check", TARGET, "--region", "eu", *common)
        watcher("check uk", "check", TARGET, "--region", "uk", *common)
        watcher("check recorded", "check", TARGET, "--region", "eu", "--recorded", "HEAD",
                *common)  # fmt: skip
        watcher("history", "history", *common)
        watcher("history --json", "history", "--all", "--json", *common)
        for flag in ("", "--raw", "--capture"):
            watcher(f"show {flag}", "show", TARGET, "--region", "eu", *common,
                    *([flag] if flag else []))  # fmt: skip
        for fmt in ("text", "markdown", "html"):
            watcher(f"diff {fmt}", "diff", TARGET, "--region", "eu", "--format", fmt, *common)
        watcher("validate", "validate", "--config", str(config))
        outputs["step summary"] = summary.read_text()
        for i, post in enumerate(sink.posts):
            outputs[f"alert {i}"] = json.dumps(post["body"], ensure_ascii=False)
        outputs.update({f"file {k}": v for k, v in files(repo).items()})
        outputs["git objects"] = git_objects(repo)
        assert len(outputs["git objects"]) > 100_000  # the captures, the feed, the commits
        assert re.search(r'"k[0-9a-f]{16}"', outputs["git objects"])  # keyed delivery records
        look_for = needles(
            [good_url, dead_url, eu_proxy, uk_proxy],
            [
                (PROXY_USER, PROXY_PASSWORD),
                (UK_USER, UK_PASSWORD),
                UK_WANTED,
                ("hook", SINK_PASSWORD),
            ],
        )
        assert leaks({"canary": f"{eu_proxy} {good_url}"}, look_for)  # the search finds them
        found = leaks(outputs, look_for)
        assert found == [], "\n".join(found[:40])
    finally:
        sink.close()


def test_a_target_url_with_credentials_is_refused_by_validate(tmp_path):
    secret = "Sx9PwTr4Kq7Lm"
    config = ck.write_config(
        tmp_path / "targets.yaml",
        [ck.policy_target(f"https://reader:{secret}@www.facebook.com/privacy/policy/")],
    )
    done = ck.run_proc(
        [ck.PY, "-m", "watcher", "validate", "--config", str(config)], tmp_path, ck.base_env()
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "must not hold credentials" in done.stderr
    assert leaks({"validate": done.stdout + done.stderr}, {"whole": secret.lower()}) == []


# -- URLs apprise shows or reads badly ----------------------------------------------------


def _notify_test(urls: str, tmp_path: Path) -> ck.Done:
    return ck.run_proc(
        [
            ck.PY,
            "-m",
            "watcher",
            "-v",
            "notify",
            "--test",
            "--config",
            str(ck.ROOT / "targets.yaml"),
        ],
        tmp_path,
        ck.base_env(None, APPRISE_URLS=urls),
    )


def test_a_dead_url_is_shown_without_any_part_of_its_token(tmp_path):
    token = "Tz8Hn3Bq6Jc1Fy5Ug"
    url = f"gotify://127.0.0.1:{ck.free_port()}/{token}"
    done = _notify_test(url, tmp_path)
    assert done.returncode == 1  # the URL is dead: FAILED, and said so
    assert "FAILED" in done.stdout
    found = leaks({"out": done.stdout, "err": done.stderr}, forms(token))
    assert found == []


@pytest.mark.parametrize("scheme", ["tgram", "pushover"])
def test_an_unreadable_url_is_reported_without_its_token(scheme, tmp_path):
    user, token = "Pq7Vx2Lm9Zr4Kd", "Tk3Jd8Rr5Nw1Zs4"
    url = {"tgram": f"tgram://{token}/", "pushover": f"pushover://{user}@{token}"}[scheme]
    done = _notify_test(url, tmp_path)
    assert "internal error" not in done.stderr
    found = leaks({"out": done.stdout, "err": done.stderr}, forms(user) | forms(token))
    assert found == []


def test_a_url_with_a_bad_port_is_ignored_and_the_others_still_get_the_alert(
    origin, proxies, tmp_path_factory, tmp_path
):
    world = World.get(origin, proxies, tmp_path_factory)
    trial = Trial(world, "persistent", tmp_path)
    try:
        bad = f"json://hook:{DEAD_PASSWORD}@127.0.0.1:notaport/x/{DEAD_TOKEN}"
        run = ck.run_proc(
            [ck.PY, "-m", "watcher", "run", "--no-notify", *world.args(trial.repo)],
            trial.repo,
            world.env(),
        )
        assert run.returncode == 0, run.stderr
        done = ck.run_proc(
            [ck.PY, "-m", "watcher", "notify", *world.args(trial.repo)],
            trial.repo,
            world.env(APPRISE_URLS=f"{bad} {trial.sink.url()}"),
        )
        assert "internal error" not in done.stderr, done.stderr
        assert done.returncode == 0
        assert trial.verdict().alerts == {c.target: 1 for c in world.changes}
        assert leaks({"err": done.stderr}, forms(DEAD_PASSWORD) | forms(DEAD_TOKEN)) == []
    finally:
        trial.close()
