"""What a run shows in GitHub Actions: the job summary table and warning annotations."""

from __future__ import annotations

from conftest import Response, fixture_text, policy_target, run_cli, write_config


def test_step_summary_table_and_warnings(origin, proxies, repo, tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "example-org/evidence")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.chdir(repo)
    origin.page("/policy", {"eu": fixture_text("facebook/privacy-policy/2025-12-16_a.html")})
    origin.page("/blocked", {"eu": Response(403, "<h1>Forbidden</h1>")})
    config = write_config(
        tmp_path / "t.yaml",
        [
            policy_target(origin.url("/policy"), regions=["eu", "uk"]),
            policy_target(origin.url("/blocked"), id="walled", name="Walled page", regions=["eu"]),
        ],
    )
    monkeypatch.delenv("WATCHER_PROXY_UK")
    for page in ("2025-12-16_a.html", "2025-12-16_b.html"):
        origin.page("/policy", {"eu": fixture_text(f"facebook/privacy-policy/{page}")})
        code, _, err = run_cli("run", "--config", str(config), "--no-notify", capsys=capsys)
        assert code == 0  # failing pages are reported, not fatal
    table = summary.read_text().split("### watcher:")[-1]
    rows = {
        line.split("|")[1].strip() + "/" + line.split("|")[2].strip(): line
        for line in table.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    changed = rows["Meta Privacy Policy/EU"]
    assert "✏️ changed" in changed and "data sources, exemptions" in changed
    assert (
        "[history](https://github.com/example-org/evidence/commits/main/"
        "snapshots/facebook-privacy-policy/eu.md)"
    ) in changed
    assert (
        "skipped" in rows["Meta Privacy Policy/UK"]
        and "WATCHER_PROXY_UK" in rows["Meta Privacy Policy/UK"]
    )
    assert "⛔ blocked" in rows["Walled page/EU"] and "HTTP 403" in rows["Walled page/EU"]
    warnings = [line for line in err.splitlines() if line.startswith("::warning")]
    assert warnings == [
        f"::warning title=Walled page (EU) blocked::HTTP 403 from {origin.url('/blocked')}"
    ]
