"""The command line as users meet it: exit statuses that mean what the README says, usage
mistakes told apart from bugs, options in either place, and help for every argument."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    SHIPPED,
    fixture_text,
    git,
    policy_target,
    run_cli,
    run_json,
    write_config,
)

from watcher.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
EU_A = "facebook/privacy-policy/2025-12-16_a.html"
EU_B = "facebook/privacy-policy/2025-12-16_b.html"


def test_a_bug_is_reported_as_internal_not_as_a_failing_page(
    origin, proxies, repo, tmp_path, capsys, monkeypatch
):
    """A bug in watcher must not count toward a failure alert telling users the page fails."""
    origin.page("/policy", {"eu": fixture_text(EU_A)})
    config = write_config(
        tmp_path / "t.yaml",
        [policy_target(origin.url("/policy"), regions=["eu"])],
        alerts={"failure_threshold": 1},
    )

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("watcher.process.extract_sections", broken)  # inject the bug
    code, out, err = run_cli(
        "run", "--config", str(config), "--snapshots", str(repo / "snapshots"), "--json",
        "--no-notify", capsys=capsys,
    )  # fmt: skip
    assert code == 1
    [result] = json.loads(out)["results"]
    assert result["status"] == "error" and result["internal"] is True
    assert result["error"].startswith("internal error: KeyError")
    assert "internal error" in err
    outbox = repo / "snapshots/.watcher/eu.json"
    assert not outbox.exists() or json.loads(outbox.read_text())["failures"] == {}


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "facebook-privacy-policy", "eu", "xx"], "unknown region 'xx'"),
        (["notify", "--test"], "no notification URLs"),
        (["history"], "not inside a git repository"),
        (["diff", "facebook-privacy-policy", "--region", "eu"], "not inside a git repository"),
        (["notify", "--region", "eu"], "not inside a git repository"),
    ],
    ids=["compare-unknown-region", "notify-test-unconfigured", "history", "diff", "notify"],
)
def test_user_mistakes_are_usage_errors(args, message, tmp_path, capsys, monkeypatch):
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _, err = run_cli(*args, "--config", str(SHIPPED), capsys=capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_check_rejects_an_unknown_region_before_fetching(origin, proxies, tmp_path, capsys):
    origin.page("/policy", {None: fixture_text(EU_A)})
    config = write_config(tmp_path / "t.yaml", [policy_target(origin.url("/policy"))])
    code, _, err = run_cli(
        "check", "facebook-privacy-policy", "--region", "us", "--region", "eu2",
        "--config", str(config), capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "unknown region 'eu2'" in err
    assert origin.hits("/policy") == []


def test_history_into_a_closed_pipe_ends_quietly(origin, proxies, repo, tmp_path, capsys):
    config = write_config(
        tmp_path / "t.yaml", [policy_target(origin.url("/policy"), regions=["eu"])]
    )
    for page in (EU_A, EU_B, EU_A):
        origin.page("/policy", {"eu": fixture_text(page)})
        run_json(config, repo, capsys)
    assert int(git(repo, "rev-list", "--count", "HEAD")) >= 4
    # many lines, so the writer is still writing when `head` has gone
    script = (
        "import sys\nfrom watcher.cli import main\n"
        f"for _ in range(300): main(['history', '--snapshots', {str(repo / 'snapshots')!r}])\n"
    )
    proc = subprocess.run(
        f"{sys.executable} -c {_sh(script)} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=120,
    )
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_options_work_after_the_subcommand_too(capsys):
    code, _, err = run_cli("validate", "-v", "--config", str(SHIPPED), capsys=capsys)
    assert code == 0, err
    code, _, err = run_cli("-v", "validate", "--config", str(SHIPPED), capsys=capsys)
    assert code == 0, err


def test_validate_counts_read_as_english(tmp_path, capsys):
    import yaml

    config = write_config(
        tmp_path / "t.yaml", [policy_target("http://127.0.0.1:9/p", regions=["eu"])]
    )
    data = yaml.safe_load(config.read_text())
    data["regions"] = {"eu": data["regions"]["eu"]}
    data["targets"][0]["markers"] = {"eu": ["Meta Platforms Ireland Limited"]}
    config.write_text(yaml.safe_dump(data))
    code, out, err = run_cli("validate", "--config", str(config), capsys=capsys)
    assert code == 0, err
    assert out.strip().endswith("OK: 1 target, 1 region, 1 target × region pair")


def test_a_target_chosen_by_ip_without_markers_is_refused(tmp_path, capsys):
    target = policy_target("http://127.0.0.1:9/p", regions=["eu", "us"])
    del target["markers"]
    config = write_config(tmp_path / "t.yaml", [target])
    code, _, err = run_cli("validate", "--config", str(config), capsys=capsys)
    assert code == 2
    assert "targets[0].markers: is required when the region is chosen by IP" in err
    target["markers"] = {"none": "the page has no regional wording"}
    write_config(tmp_path / "t.yaml", [target])
    code, _, err = run_cli("validate", "--config", str(config), capsys=capsys)
    assert code == 0, err
    target["markers"] = {"none": ""}
    write_config(tmp_path / "t.yaml", [target])
    code, _, err = run_cli("validate", "--config", str(config), capsys=capsys)
    assert code == 2 and "`none` needs a reason" in err


def _actions(parser):
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, sub in action.choices.items():
                yield from ((name, a) for a in sub._actions)


def test_every_argument_has_help_text():
    missing = [
        f"{verb} {a.dest}"
        for verb, a in _actions(build_parser())
        if not a.help and a.dest != "help"
    ]
    assert missing == []


def test_readme_command_table_matches_the_cli():
    """Every `watcher VERB` the README shows exists, and every verb is in the README."""
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    verbs = {
        name
        for action in parser._actions
        if isinstance(getattr(action, "choices", None), dict)
        for name in action.choices
    }
    shown = set(re.findall(r"watcher ([a-z]+)\b", readme))
    shown &= verbs | {v for v in shown if not v.startswith(("run", "is"))}
    assert verbs <= shown, f"verbs missing from the README: {sorted(verbs - shown)}"
    for verb in set(re.findall(r"`watcher ([a-z]+)", readme)):
        assert verb in verbs, f"the README shows `watcher {verb}`, which does not exist"
