"""Real parts on 127.0.0.1: an origin serving real Meta pages, forward proxies per region,
git repositories in temporary folders. Nothing here touches the network."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from watcher.page import markdown_to_html

# notification receivers (SMTP server, HTTP sink) live in tests/sinks.py
pytest_plugins = ["sinks"]

FIXTURES = Path(__file__).parent / "fixtures"
OTA = FIXTURES / "ota"
PRINTABLE = "https://mbasic.facebook.com/privacy/policy/printable/"


def fixture_text(name: str) -> str:
    """A real archived page from tests/fixtures/ota (stored gzip-compressed)."""
    path = OTA / name
    if not path.exists():
        path = OTA / (name + ".gz")
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def page_html(name: str, title: str = "Meta Privacy Policy") -> str:
    """The fixture as HTML: raw snapshots as they are, text versions rendered from Markdown,
    wrapped like the printable page (#root), as a mirror of archived text would serve it."""
    text = fixture_text(name)
    if name.endswith(".html"):
        return text
    body = markdown_to_html(text).removeprefix("<html><body>").removesuffix("</body></html>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}'
        f'</title></head><body><div id="root">{body}</div></body></html>'
    )


@dataclass
class Response:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"
    truncate_to: int | None = None  # send fewer bytes than Content-Length, then close


Handler = Callable[[dict[str, Any]], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        # Without TCP_NODELAY a keep-alive response stalls ~5 ms on loopback.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _send(handler: BaseHTTPRequestHandler, resp: Response) -> None:
    body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
    length = len(body)
    if resp.truncate_to is not None:
        body = body[: resp.truncate_to]
    head = [
        f"HTTP/1.1 {resp.status} {http.client.responses.get(resp.status, 'Status')}",
        f"Content-Type: {resp.content_type}",
        f"Content-Length: {length}",
    ]
    head += [f"{k}: {v}" for k, v in resp.headers.items()]
    if resp.truncate_to is not None:
        head.append("Connection: close")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    handler.wfile.write(data)  # one write per response
    handler.wfile.flush()
    if resp.truncate_to is not None:
        handler.close_connection = True


class Origin:
    """A web server for real Meta pages. A page may have one variant per egress region: the
    origin tells regions apart by the X-Egress-Region header our proxies add, as Meta tells
    them apart by IP address. A request that comes direct gets the `None` variant."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[dict[str, Any]] = []
        origin = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = (
                    urlsplit(self.path).path
                    if self.path.startswith("http")
                    else self.path.split("?")[0]
                )
                req = {
                    "path": path,
                    "raw_path": self.path,
                    "headers": dict(self.headers),
                    "region": self.headers.get("X-Egress-Region"),
                }
                origin.requests.append(req)
                handler = origin.routes.get(path)
                resp = handler(req) if handler else Response(404, "<h1>Not found</h1>")
                _send(self, resp)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def page(self, path: str, variants: dict[str | None, Response | str] | Response | str) -> None:
        """Serve `path`; with a dict, one response per egress region (None = direct)."""
        if not isinstance(variants, dict):
            variants = {None: variants}
        table = {
            k: (v if isinstance(v, Response) else Response(body=v)) for k, v in variants.items()
        }

        def handler(req: dict[str, Any]) -> Response:
            region = req["region"]
            if region in table:
                return table[region]
            if None in table:
                return table[None]
            return Response(404, "<h1>No variant</h1>")

        self.route(path, handler)

    def hits(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RegionProxy:
    """A forward HTTP proxy standing for egress in one region: it relays absolute-form
    requests to the origin and marks them with the region it stands for. With `auth`, it
    demands Proxy-Authorization (to test that proxy credentials stay secret)."""

    def __init__(self, region: str, auth: tuple[str, str] | None = None) -> None:
        self.region = region
        self.requests: list[str] = []
        self.auth = auth
        proxy = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if proxy.auth:
                    import base64

                    want = "Basic " + base64.b64encode(":".join(proxy.auth).encode()).decode()
                    if self.headers.get("Proxy-Authorization") != want:
                        _send(
                            self,
                            Response(407, "proxy auth required", {"Proxy-Authenticate": "Basic"}),
                        )
                        return
                if not self.path.startswith("http://"):
                    _send(self, Response(400, "absolute-form request expected"))
                    return
                proxy.requests.append(self.path)
                target = urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("proxy-authorization", "proxy-connection", "host")
                }
                headers["X-Egress-Region"] = proxy.region
                try:
                    conn.request(
                        "GET",
                        target.path + (f"?{target.query}" if target.query else ""),
                        headers=headers,
                    )
                    up = conn.getresponse()
                    cut = None
                    try:
                        body = up.read()
                    except http.client.IncompleteRead as exc:
                        # relay the cut as a streaming proxy would: same length, fewer bytes
                        body = exc.partial + b"\0" * (exc.expected or 0)
                        cut = len(exc.partial)
                    extra = {
                        k: v
                        for k, v in up.getheaders()
                        if k.lower()
                        not in (
                            "content-length",
                            "content-type",
                            "connection",
                            "transfer-encoding",
                            "date",
                            "server",
                        )
                    }
                    _send(
                        self,
                        Response(
                            up.status, body, extra, up.getheader("Content-Type", "text/html"), cut
                        ),
                    )
                except (OSError, http.client.HTTPException):
                    _send(self, Response(502, "bad gateway"))
                finally:
                    conn.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        if self.auth:
            return f"http://{self.auth[0]}:{self.auth[1]}@127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _origin_server() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def origin(_origin_server: Origin) -> Origin:
    """The session's origin server, with no pages and no requests yet for this test."""
    _origin_server.routes.clear()
    _origin_server.requests.clear()
    return _origin_server


@pytest.fixture(scope="session")
def _region_proxies() -> Iterator[dict[str, RegionProxy]]:
    made = {code: RegionProxy(code) for code in ("eu", "uk")}
    yield made
    for proxy in made.values():
        proxy.close()


@pytest.fixture
def proxies(
    _region_proxies: dict[str, RegionProxy], monkeypatch: pytest.MonkeyPatch
) -> dict[str, RegionProxy]:
    """One forward proxy per non-US region, wired through WATCHER_PROXY_<REGION>."""
    for code, proxy in _region_proxies.items():
        proxy.reset()
        monkeypatch.setenv(f"WATCHER_PROXY_{code.upper()}", proxy.url)
    return _region_proxies


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WATCHER_PROXY_") or name in (
            "APPRISE_URLS",
            "WATCHER_WORKERS",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_ACTIONS",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ):
            monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh git repository with an empty snapshots folder, like a fresh fork."""
    root = tmp_path / "evidence"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test Runner")
    git(root, "config", "user.email", "runner@example.invalid")
    git(root, "config", "commit.gpgsign", "false")
    (root / "README.md").write_text("evidence\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "Start")
    (root / "snapshots").mkdir()
    return root


POLICY_EXTRACT = {
    "root": ["#root", "main", "body"],
    "anchors": ["HowWeUseInformationAI", "AiIntegrations", "ObjectYouHaveThe"],
    "headings": ["^Object$", "information for AI", "^AI integrations$"],
    "phrases": [
        r"\bAIs?\b",
        "artificial intelligence",
        "generative",
        "large language models?",
        "right to object",
    ],
}
POLICY_MARKERS = {
    "eu": ["Meta Platforms Ireland Limited", "Irish Data Protection Commission"],
    "uk": ["Information Commissioner's Office"],
    "us": [],
}
SHIPPED = Path(__file__).resolve().parent.parent / "targets.yaml"


def policy_target(url: str, **extra: Any) -> dict[str, Any]:
    target = {
        "id": "facebook-privacy-policy",
        "name": "Meta Privacy Policy",
        "url": url,
        "base_url": PRINTABLE,
        "regions": ["eu", "uk", "us"],
        "markers": POLICY_MARKERS,
        "min_length": 20000,
        "expect": ["Privacy Policy"],
        "extract": POLICY_EXTRACT,
    }
    target.update(extra)
    return target


def write_config(path: Path, targets: list[dict[str, Any]], **top: Any) -> Path:
    """A targets.yaml for tests: the shipped regions and categories, fast retries."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    data = {
        "version": 1,
        "fetch": {
            "timeout": 5,
            "connect_timeout": 2,
            "retries": 1,
            "backoff": 0,
            "concurrency": 4,
            "region_retries": 2,
            "max_retry_after": 2,
        },
        "regions": shipped["regions"],
        "alerts": shipped["alerts"],
        "targets": targets,
    }
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from watcher.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_job(
    config: Path, repo: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[dict[str, Any], str]:
    """`watcher run --json` on the repository's snapshots: (the JSON report, all it printed)."""
    code, out, err = run_cli(
        "run",
        "--config",
        str(config),
        "--snapshots",
        str(repo / "snapshots"),
        "--json",
        *extra,
        capsys=capsys,
    )
    assert code == 0, err
    return json.loads(out), out + err


def run_json(
    config: Path, repo: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    """A run that sends no alerts (they stay in the outbox)."""
    return run_job(config, repo, capsys, "--no-notify", *extra)[0]


# -- pages built with JavaScript (the browser fetcher) --------------------------------------

GENAI_PAGE = "facebook/privacy-policy-us/2026-03-05.md"
GENAI_HEADING = "How Meta uses information for generative AI models and features"


def genai_html() -> str:
    """The Privacy Center's genai page text (archived in the US composite), as HTML: the
    section from its title to the next `- - -` rule."""
    text = fixture_text(GENAI_PAGE)
    start = text.index(GENAI_HEADING)
    end = text.index("- - -", start)
    html = markdown_to_html(text[start:end])
    return html.removeprefix("<html><body>").removesuffix("</body></html>")


def static_page(body: str, title: str = "Meta Privacy Center") -> str:
    """`body` served as it is, inside #root: what a server-rendered copy would look like."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'</head><body><div id="root">{body}</div></body></html>'
    )


def js_page(
    body: str,
    title: str = "Meta Privacy Center",
    *,
    delay_ms: int = 300,
    chunks: int = 1,
    interval_ms: int = 100,
    script: str = "",
    gate: str = "",
) -> str:
    """A script shell that builds `body` inside #root with JavaScript, as Meta's pages do:
    after `delay_ms`, in `chunks` batches of top-level nodes `interval_ms` apart. The HTML
    itself holds no visible text. `script` runs once the whole body is in. With `gate` (a
    path), the build starts only once a GET of it succeeds (the page's data call)."""
    data = json.dumps(body).replace("</", "<\\/")
    start = f"setTimeout(tick, {delay_ms});"
    if gate:
        start = f"fetch({json.dumps(gate)}).then((r) => {{ if (r.ok) {start} }});"
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>window.__built = false;</script></head>
<body><div id="root"></div>
<script>
(() => {{
  const t = document.createElement('template');
  t.innerHTML = {data};
  const nodes = [...t.content.childNodes];
  const root = document.getElementById('root');
  const step = Math.max(1, Math.ceil(nodes.length / {chunks}));
  let i = 0;
  const done = () => {{ window.__built = true; {script} }};
  const tick = () => {{
    for (const n of nodes.slice(i, i + step)) root.appendChild(n);
    i += step;
    if (i < nodes.length) setTimeout(tick, {interval_ms}); else done();
  }};
  {start}
}})();
</script></body></html>"""


def shipped_target(target_id: str, **extra: Any) -> dict[str, Any]:
    """A target from the shipped targets.yaml, with fields replaced (url, regions…)."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    [target] = [t for t in shipped["targets"] if t["id"] == target_id]
    return {**target, **extra}
