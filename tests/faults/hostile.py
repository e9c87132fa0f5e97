"""A web server on 127.0.0.1 that misbehaves on purpose: it writes raw bytes to the socket
(slowly, wrongly framed, compressed into bombs), one behaviour per path, each bounded in
time so that even a fetcher that never gives up ends."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# How long any one behaviour may keep a connection busy, whatever the client does.
MAX_BEHAVIOUR_S = 30.0

Behaviour = Callable[[socket.socket, "Request"], None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


def response_head(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
    content_type: str = "text/html; charset=utf-8",
) -> bytes:
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found"}.get(
        status, "Status"
    )
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send(
    body: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "text/html; charset=utf-8",
) -> Behaviour:
    """A well-framed response (whatever its body holds)."""

    def behave(sock: socket.socket, _req: Request) -> None:
        sock.sendall(response_head(status, headers, length=len(body), content_type=content_type))
        sock.sendall(body)

    return behave


def redirect(location: str, status: int = 302) -> Behaviour:
    return send(b"", status, {"Location": location})


def drip(body: bytes, every: float, *, headers_too: bool = False) -> Behaviour:
    """One byte every `every` seconds: of the body, or of the whole response."""

    def behave(sock: socket.socket, _req: Request) -> None:
        head = response_head(length=len(body))
        data = head + body if headers_too else body
        if not headers_too:
            sock.sendall(head)
        ends = time.monotonic() + MAX_BEHAVIOUR_S
        for i in range(len(data)):
            if time.monotonic() > ends:
                return
            sock.sendall(data[i : i + 1])
            time.sleep(every)

    return behave


def chunks(body: bytes, count: int, every: float) -> Behaviour:
    """The body in `count` chunked-encoding chunks, `every` seconds apart."""

    def behave(sock: socket.socket, _req: Request) -> None:
        sock.sendall(response_head(headers={"Transfer-Encoding": "chunked"}))
        size = -(-len(body) // count)
        ends = time.monotonic() + MAX_BEHAVIOUR_S
        for start in range(0, len(body), size):
            if time.monotonic() > ends:
                return
            part = body[start : start + size]
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            time.sleep(every)
        sock.sendall(b"0\r\n\r\n")

    return behave


def short_body(body: bytes, declared: int, *, hold: bool) -> Behaviour:
    """Declares `declared` bytes, sends `body`, then closes or (with `hold`) stalls."""

    def behave(sock: socket.socket, _req: Request) -> None:
        sock.sendall(response_head(length=declared) + body)
        if hold:
            time.sleep(MAX_BEHAVIOUR_S)

    return behave


def huge_headers(count: int, size: int) -> Behaviour:
    def behave(sock: socket.socket, _req: Request) -> None:
        extra = {f"X-Filler-{i}": "x" * size for i in range(count)}
        sock.sendall(response_head(headers=extra, length=2) + b"ok")

    return behave


class _Handler(socketserver.BaseRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(MAX_BEHAVIOUR_S)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                got = sock.recv(65536)
                if not got:
                    return
                data += got
                if len(data) > 1 << 20:
                    return
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            path = target.split("?", 1)[0]
            if "://" in path:
                path = "/" + path.split("://", 1)[1].partition("/")[2]
            request = Request(method, path, headers)
            self.server.requests.append(request)
            behaviour = self.server.routes.get(path)
            if behaviour is None:
                send(b"<h1>Not found</h1>", 404)(sock, request)
            else:
                behaviour(sock, request)
        except OSError:
            pass  # the client gave up: what a hostile server wants


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.port = self.server_address[1]
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
