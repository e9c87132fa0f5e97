"""The benchmark's origin: real Meta pages on 127.0.0.1, in a process of its own.

`GET /p/<i>` serves source page `i % S` (S real pages, repeated under distinct URLs), with
Content-Type and Content-Length only: no Last-Modified, ETag or Date, so no tool can skip a
download. Each response is written in one call on a socket with TCP_NODELAY (asyncio), so
keep-alive responses do not stall. Control: `/_ctl/changed/1` switches the changed variant
on for every page with `i % 10 == 0` (10 % of the pages), `/_ctl/changed/0` off;
`/_ctl/live/1` switches the live-like mode on (every response rewritten afresh by
livelike.py: tracking-token values, fbcdn host names, class names and nonces change, the text
does not), `/_ctl/live/0` off; `/_ctl/stats` returns the request count, the bytes served, the
time spent rewriting and the server's CPU time since `/_ctl/reset`.

Prints one JSON line (port and page facts) on stdout when it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import socket
import sys
import time
from typing import Any

from livelike import Template
from pages import CHANGED_EVERY, load_sources

_PAGE = re.compile(rb"^/p/(\d+)$")


def response(status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "Status")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class State:
    def __init__(self, base: list[bytes], changed: list[bytes], seed: int = 0):
        self.base = [response(200, b) for b in base]
        self.changed = [response(200, c) for c in changed]
        # live-like: the same pages, cut into templates once, rewritten per response
        self.live_base = [Template.compile(b) for b in base]
        self.live_changed = [Template.compile(c) for c in changed]
        self.rng = random.Random(seed)
        self.changed_on = False
        self.live_on = False
        self.reset()

    def reset(self) -> None:
        self.requests = self.bytes = 0
        self.rewrite_s = 0.0
        self.cpu0 = time.process_time()

    def page(self, i: int) -> bytes:
        s = i % len(self.base)
        changed = self.changed_on and i % CHANGED_EVERY == 0
        if not self.live_on:
            return (self.changed if changed else self.base)[s]
        t0 = time.perf_counter()
        body = (self.live_changed if changed else self.live_base)[s].render(self.rng)
        data = response(200, body)
        self.rewrite_s += time.perf_counter() - t0
        return data

    def route(self, path: bytes) -> bytes:
        m = _PAGE.match(path)
        if m:
            data = self.page(int(m.group(1)))
            self.requests += 1
            self.bytes += len(data)
            return data
        if path.startswith(b"/_ctl/"):
            cmd = path[len(b"/_ctl/") :].decode()
            if cmd in ("changed/0", "changed/1"):
                self.changed_on = cmd.endswith("1")
            elif cmd in ("live/0", "live/1"):
                self.live_on = cmd.endswith("1")
            elif cmd == "reset":
                self.reset()
            elif cmd != "stats":
                return response(404, b"unknown control")
            stats = {
                "requests": self.requests,
                "bytes": self.bytes,
                "changed": self.changed_on,
                "live": self.live_on,
                "rewrite_s": self.rewrite_s,
                "cpu_s": time.process_time() - self.cpu0,
            }
            return response(200, json.dumps(stats).encode(), "application/json")
        return response(404, b"<h1>Not found</h1>")


class Http(asyncio.Protocol):
    def __init__(self, state: State):
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            line, _, headers = head.partition(b"\r\n")
            parts = line.split(b" ")
            if len(parts) != 3:
                self.transport.close()
                return
            method, target, _version = parts
            path = target.split(b"?", 1)[0]
            if path.startswith(b"http://"):  # absolute form
                path = b"/" + path.split(b"/", 3)[-1]
            ok = method == b"GET"
            # one write per response: head and body leave together
            self.transport.write(self.state.route(path) if ok else response(405, b"GET only"))
            if b"connection: close" in headers.lower():
                self.transport.close()
                return


async def serve(state: State, port: int, info: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(state), "127.0.0.1", port, backlog=512)
    info["port"] = server.sockets[0].getsockname()[1]
    print(json.dumps(info), flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="of the live-like rewrites")
    args = parser.parse_args()
    sources = load_sources()
    base = [s.html.encode("utf-8") for s in sources]
    changed = [s.changed_html.encode("utf-8") for s in sources]
    state = State(base, changed, args.seed)
    info = {
        "sources": [
            {
                "name": s.name,
                "bytes": len(s.html.encode("utf-8")),
                "old_sentence": s.old_sentence,
                "new_sentence": s.new_sentence,
                "live_sites": dict(t.counts),
                "live_distinct_values": len(t.keys),
                "live_nonce_added": t.injected_nonce,
            }
            for s, t in zip(sources, state.live_base, strict=True)
        ]
    }
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(state, args.port, info))
    sys.exit(0)


if __name__ == "__main__":
    main()
