"""The HTTP fetcher against a real local server: retries, Retry-After, caps, redirects, proxies."""

from __future__ import annotations

import time

import pytest
from conftest import Origin, RegionProxy, Response, git, page_html, policy_target, run_json
from conftest import write_config as _write_config

from watcher.errors import FetchError
from watcher.fetch.http import HttpFetcher
from watcher.models import FetchSettings, Region

US = Region("us", "US", direct=True)
EU = Region("eu", "EU")


def fetcher(**settings) -> HttpFetcher:
    base = {"timeout": 3, "connect_timeout": 1, "retries": 2, "backoff": 0.01, "max_retry_after": 2}
    return HttpFetcher(FetchSettings(**{**base, **settings}), {"us": US, "eu": EU})


def test_retry_after_is_honoured_then_the_page_arrives(origin: Origin):
    calls = []

    def flaky(req):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Response(503, "busy", {"Retry-After": "1"})
        return Response(body="<html><body><p>ok</p></body></html>")

    origin.route("/p", flaky)
    with fetcher() as f:
        page = f.fetch(origin.url("/p"), US)
    assert page.status == 200 and "ok" in page.content
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.95


def test_retry_after_beyond_the_bound_gives_up_at_once(origin: Origin):
    origin.page("/p", Response(429, "slow down", {"Retry-After": "3600"}))
    started = time.monotonic()
    with fetcher() as f, pytest.raises(FetchError, match="asks to wait 3600 s"):
        f.fetch(origin.url("/p"), US)
    assert time.monotonic() - started < 1
    assert len(origin.hits("/p")) == 1


def test_server_errors_are_retried_with_backoff_then_reported(origin: Origin):
    origin.page("/p", Response(502, "bad gateway"))
    with fetcher(retries=2) as f, pytest.raises(FetchError, match=r"HTTP 502 .*after 3 attempts"):
        f.fetch(origin.url("/p"), US)
    assert len(origin.hits("/p")) == 3


def test_response_size_is_capped(origin: Origin):
    origin.page("/big", "<p>" + "x" * 50_000 + "</p>")
    with fetcher(max_bytes=10_000) as f, pytest.raises(FetchError, match="max_bytes"):
        f.fetch(origin.url("/big"), US)


def test_redirects_are_followed_but_never_off_http(origin: Origin):
    origin.page("/old", Response(301, "", {"Location": "/new"}))
    origin.page("/new", "<p>moved here</p>")
    origin.page("/evil", Response(302, "", {"Location": "file:///etc/passwd"}))
    origin.page("/loop", Response(302, "", {"Location": "/loop"}))
    with fetcher(max_redirects=3) as f:
        page = f.fetch(origin.url("/old"), US)
        assert page.final_url == origin.url("/new") and "moved here" in page.content
        with pytest.raises(FetchError, match="non-http"):
            f.fetch(origin.url("/evil"), US)
        with pytest.raises(FetchError, match="more than 3 redirects"):
            f.fetch(origin.url("/loop"), US)


def test_region_headers_cookies_and_user_agent_are_sent(origin: Origin):
    origin.page("/p", "<p>hi</p>")
    region = Region(
        "us", "US", direct=True, headers={"Accept-Language": "en-US"}, cookies={"locale": "en_US"}
    )
    with HttpFetcher(FetchSettings(), {"us": region}) as f:
        f.fetch(origin.url("/p"), region)
    headers = {k.lower(): v for k, v in origin.hits("/p")[0]["headers"].items()}
    assert headers["accept-language"] == "en-US"
    assert headers["cookie"] == "locale=en_US"
    assert headers["user-agent"].startswith("watcher/")


def test_plain_http_requests_of_a_region_go_through_its_proxy(origin: Origin, monkeypatch):
    proxy = RegionProxy("eu")
    try:
        monkeypatch.setenv("WATCHER_PROXY_EU", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # must not route around it
        origin.page("/p", {"eu": "<p>eu text</p>", None: "<p>direct text</p>"})
        with fetcher() as f:
            page = f.fetch(origin.url("/p"), EU)
        assert "eu text" in page.content
        assert proxy.requests == [origin.url("/p")]
    finally:
        proxy.close()


def test_proxy_credentials_never_reach_output_logs_or_commits(
    origin: Origin, repo, tmp_path, monkeypatch, capsys, caplog
):
    secret = "pr0xyS3cretPass"
    proxy = RegionProxy("eu", auth=("watchuser", secret))
    try:
        monkeypatch.setenv("WATCHER_PROXY_EU", proxy.url)
        origin.page("/p", {"eu": Response(500, "down")})
        config = _write_config(
            tmp_path / "t.yaml", [policy_target(origin.url("/p"), regions=["eu"])]
        )
        failed = run_json(config, repo, capsys)
        assert failed["results"][0]["status"] == "error"
        origin.page(
            "/p", {"eu": page_html("pages/fb-privacy-policy_EU-variant_vlopses-ie_2026-04-30.md")}
        )
        report = run_json(config, repo, capsys)
        assert report["results"][0]["status"] == "new"
        assert proxy.requests  # authenticated through the proxy
        # a wrong password makes the proxy refuse: the error must not quote the URL
        monkeypatch.setenv("WATCHER_PROXY_EU", proxy.url.replace(secret, secret + "x"))
        refused = run_json(config, repo, capsys)
        assert refused["results"][0]["status"] in ("error", "blocked")
        everything = (
            str(failed) + str(report) + str(refused) + caplog.text + git(repo, "log", "-p", "--all")
        )
        assert secret not in everything
        assert "watchuser" not in everything
    finally:
        proxy.close()
