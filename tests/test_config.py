"""targets.yaml: the shipped file is valid, and every mistake is named by its place, at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import SHIPPED, run_cli

from watcher.config import load_config, parse_config
from watcher.errors import ConfigError

SCHEMA = Path(__file__).resolve().parent.parent / "watcher" / "targets.schema.json"


def test_shipped_targets_cover_the_watch_list():
    config = load_config(SHIPPED)
    urls = {t.id: t.url for t in config.targets}
    assert (
        urls["facebook-privacy-policy"] == "https://mbasic.facebook.com/privacy/policy/printable/"
    )
    assert urls["instagram-privacy-policy"] == "https://privacycenter.instagram.com/policy"
    assert urls["privacy-center-genai"] == "https://www.facebook.com/privacy/genai"
    assert urls["whatsapp-privacy-policy-eea"].endswith("/legal/privacy-policy-eea")
    assert urls["whatsapp-privacy-policy"].endswith("/legal/privacy-policy")
    assert urls["meta-ai-terms-eu"].endswith("/legal/eu-ai-terms")
    assert urls["meta-ai-terms"].endswith("/legal/ai-terms")
    assert set(config.regions) == {"eu", "uk", "us"}
    policy = config.target("facebook-privacy-policy")
    assert policy.markers["eu"] and policy.markers["uk"] and policy.markers["us"] == ()
    assert config.target("privacy-center-genai").markers == {}
    assert config.target("instagram-privacy-policy").fetcher == "browser"


def test_shipped_targets_validate_against_the_json_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(SHIPPED.read_text()), schema)


def test_json_schema_rejects_what_the_validator_rejects():
    schema = json.loads(SCHEMA.read_text())
    data = yaml.safe_load(SHIPPED.read_text())
    data["targets"][0]["fetcher"] = "curl"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    with pytest.raises(ConfigError):
        parse_config(data)


def _problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.yaml")
    return info.value.problems


def _base() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def test_unknown_region_is_named_by_its_place():
    data = _base()
    data["targets"][3]["regions"] = ["eu", "eu2"]
    assert _problems(data) == [
        "t.yaml: targets[3].regions[1]: unknown region 'eu2' (known: eu, uk, us)"
    ]


def test_every_problem_is_reported_at_once():
    data = _base()
    data["targets"][0]["url"] = "ftp://example.com/policy"
    data["targets"][1]["extract"]["phrases"] = ["(unclosed"]
    data["targets"][2]["fetcher"] = "curl"
    data["targets"][4]["id"] = data["targets"][5]["id"]
    data["targets"][6]["colour"] = "blue"
    data["fetch"]["timeout"] = "soon"
    problems = _problems(data)
    assert (
        "t.yaml: targets[0].url: must be an http:// or https:// URL, not "
        "'ftp://example.com/policy'" in problems
    )
    assert any(
        p.startswith("t.yaml: targets[1].extract.phrases[0]: invalid regular expression")
        for p in problems
    )
    assert "t.yaml: targets[2].fetcher: must be one of http, browser, auto, not 'curl'" in problems
    assert any(p.startswith("t.yaml: targets[5].id: duplicate id") for p in problems)
    assert any(p.startswith("t.yaml: targets[6].colour: unknown key") for p in problems)
    assert "t.yaml: fetch.timeout: must be a number, not a string" in problems
    assert len(problems) == 6


def test_class_selectors_are_refused():
    data = _base()
    data["targets"][0]["extract"]["root"] = [".bh .bk"]
    [problem] = _problems(data)
    assert problem.startswith("t.yaml: targets[0].extract.root[0]: class selectors")


def test_file_must_hold_a_mapping():
    with pytest.raises(ConfigError) as info:
        parse_config(["a", "b"], "t.yaml")
    assert info.value.problems == [
        "t.yaml: file must contain a mapping with a 'targets' list, not a list"
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("targets: [\n  {id: x,\n", "t.yaml: line 3, column 1: invalid YAML"),
        (
            "version: 1\nregions: {eu: {}}\ntargets: []\n",
            "t.yaml: targets: must be a non-empty list",
        ),
    ],
)
def test_malformed_file_exits_2_naming_the_place(tmp_path, capsys, text, expected):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    code, out, err = run_cli(
        "run", "--config", str(path), "--snapshots", str(tmp_path), capsys=capsys
    )
    assert code == 2
    assert err.startswith("error: " + expected.replace("t.yaml", str(path)))
    assert out == ""


def test_validate_command_reports_ok(capsys):
    import yaml

    code, out, _ = run_cli("validate", "--config", str(SHIPPED), capsys=capsys)
    data = yaml.safe_load(SHIPPED.read_text())
    pairs = sum(len(t["regions"]) for t in data["targets"])
    assert code == 0
    assert out.strip() == (
        f"{SHIPPED}: OK: {len(data['targets'])} targets, {len(data['regions'])} regions, "
        f"{pairs} target × region pairs"
    )


def test_unknown_target_filter_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli(
        "run",
        "--config",
        str(SHIPPED),
        "--target",
        "nope",
        "--no-commit",
        "--snapshots",
        str(tmp_path),
        capsys=capsys,
    )
    assert code == 2
    assert "--target: unknown target 'nope'" in err


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "watcher", "validate", "--config", str(SHIPPED)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "OK" in out.stdout


def _set(path: str, value):
    """A mutation of the shipped file: set (or, with value DELETE, remove) a dotted path."""

    def apply(data: dict) -> dict:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = data
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
        return data

    return apply


DELETE = object()
AGREEMENT = {
    "shipped": lambda d: d,
    "fetcher-unknown": _set("targets.0.fetcher", "curl"),
    "fetcher-auto": _set("targets.0.fetcher", "auto"),
    "target-unknown-key": _set("targets.0.colour", "blue"),
    "top-unknown-key": _set("colour", "blue"),
    "fetch-unknown-key": _set("fetch.colour", "blue"),
    "timeout-string": _set("fetch.timeout", "soon"),
    "timeout-negative": _set("fetch.timeout", -1),
    "url-ftp": _set("targets.0.url", "ftp://example.com/p"),
    "id-missing": _set("targets.0.id", DELETE),
    "id-uppercase": _set("targets.0.id", "Facebook"),
    "regions-missing": _set("targets.0.regions", DELETE),
    "markers-missing-ip": _set("targets.0.markers", DELETE),
    "markers-none-reason": _set("targets.0.markers", {"none": "no regional wording"}),
    "markers-none-empty": _set("targets.0.markers", {"none": ""}),
    "markers-none-and-region": _set("targets.0.markers", {"none": "x", "eu": ["a"]}),
    "alerts-mode-unknown": _set("alerts.mode", "hourly"),
    "alerts-mode-each": _set("alerts.mode", "each"),
    "alerts-category-unknown": _set("alerts.categories", ["gossip"]),
    "max-shrink-above-one": _set("targets.0.max_shrink", 1.5),
    "variant-by-unknown": _set("targets.3.variant_by", "cookie"),
    "min-length-float": _set("targets.0.min_length", 2.5),
    "targets-empty": _set("targets", []),
    "extract-unknown-key": _set("targets.0.extract.colour", "blue"),
    "route-missing-tag": _set("alerts.routes", [{"regions": ["eu"]}]),
    "route-ok": _set("alerts.routes", [{"tag": "eu-desk", "regions": ["eu"]}]),
    "user-agent-format-field": _set("fetch.user_agent", "watcher {0} {"),
    "user-agent-attribute": _set("fetch.user_agent", "watcher {version.__class__}"),
    "user-agent-version-and-braces": _set("fetch.user_agent", "watcher/{version} {{+info}}"),
    "user-agent-line-break": _set("fetch.user_agent", "watcher\r\nX-Injected: 1"),
    "timeout-inf": _set("fetch.timeout", float("inf")),
    "timeout-above-maximum": _set("fetch.timeout", 4000),
    "retries-above-maximum": _set("fetch.retries", 1000),
    "run-deadline-ok": _set("fetch.run_deadline", 600),
    "run-deadline-zero": _set("fetch.run_deadline", 0),
    "header-ok": _set("regions.us.headers", {"Accept-Language": "en-US", "X-Count": 3}),
    "header-name-space": _set("regions.us.headers", {"Accept Language": "en"}),
    "header-host": _set("regions.us.headers", {"Host": "evil.example"}),
    "header-accept-encoding": _set("regions.us.headers", {"accept-encoding": "br"}),
    "header-line-break": _set("regions.us.headers", {"X-Note": "a\r\nX-Injected: 1"}),
    "header-not-latin-1": _set("regions.us.headers", {"X-Note": "\u2713"}),
    "cookie-ok": _set("regions.us.cookies", {"locale": "en_GB", "quoted": '"a-b"'}),
    "cookie-semicolon": _set("regions.us.cookies", {"locale": "en_GB; admin=1"}),
    "cookie-space-in-name": _set("regions.us.cookies", {"a b": "1"}),
    "url-credentials": _set("targets.0.url", "https://user:pass@mbasic.facebook.com/privacy/"),
    "url-space": _set("targets.0.url", "https://mbasic.facebook.com/privacy policy/"),
    "allow-redirect-hosts-ok": _set(
        "targets.0.allow_redirect_hosts", ["www.facebook.com", "*.facebook.com"]
    ),
    "allow-redirect-hosts-url": _set("targets.0.allow_redirect_hosts", ["https://x.example/"]),
}


@pytest.mark.parametrize("name", list(AGREEMENT))
def test_json_schema_and_validator_agree(name):
    """The schema editors use and the validator watcher runs accept the same files, so
    neither can drift from the other unnoticed."""
    schema = json.loads(SCHEMA.read_text())
    data = AGREEMENT[name](_base())
    schema_ok = not list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    try:
        parse_config(data, "t.yaml")
        validator_ok = True
    except ConfigError:
        validator_ok = False
    assert schema_ok == validator_ok, f"schema says {schema_ok}, validator says {validator_ok}"
