"""Fetch pages over HTTP, one client per region so that egress, headers and cookies never mix.

Concurrency comes from a thread pool over synchronous httpx clients (see run.py): on
loopback a sync client used 2.5× less CPU than AsyncClient for the same 300 pages, and the
waits that concurrency hides on real networks are hidden by threads just as well.

What a hostile or broken server cannot do to a run:

* hold it: every attempt is bounded by `fetch.timeout` as a wall-clock total (connect,
  headers, every redirect and the body), not per read. The bound is enforced below httpx,
  on each socket operation (`_DeadlineBackend`), so a server that sends one byte a second
  is cut off at the deadline just like one that sends nothing;
* exhaust memory: the body is decoded here, not by httpx, one bounded piece at a time
  through every `Content-Encoding` layer (gzip, deflate, br, zstd), and the running total
  of decoded bytes stops at `fetch.max_bytes`. A 1.8 KB `gzip, gzip` bomb costs a few
  kilobytes before it is refused;
* pass another site's page off as the target's: a redirect to another host is refused
  unless the target lists that host, and `Page.final_url` is the last address;
* garble the text: the bytes are decoded by `page.decode` (header, BOM, `<meta>`, UTF-8,
  windows-1252), as a browser would.
"""

from __future__ import annotations

import importlib
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .. import __version__, secrets
from ..errors import FetchError
from ..models import FetchSettings, Region
from ..page import decode
from .policy import (
    RETRY_STATUSES,
    Page,
    Retry,
    RunDeadline,
    host_allowed,
    proxy_for,
    retry_after,
    retry_wait,
)

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ACCEPTED_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
PIECE = 64 * 1024  # the most any decoding layer hands on at once
MAX_ENCODINGS = 3  # Content-Encoding layers; real servers use one
ZSTD_MAX_WINDOW = 8 * 1024 * 1024  # RFC 8878 §3.1.1.1.2: what an HTTP decoder must allow


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


brotli: Any = _optional("brotli")
zstandard: Any = _optional("zstandard")
if brotli is not None and not hasattr(brotli.Decompressor(), "can_accept_more_data"):
    brotli = None  # before 1.2 its output cannot be bounded: refuse br instead

# -- one wall-clock deadline under httpx -----------------------------------------------------

_attempt = threading.local()  # .deadline: the monotonic time the current attempt ends


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` cut to what is left of this thread's attempt; `error` once nothing is."""
    deadline: float | None = getattr(_attempt, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0.001:
        raise error("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current attempt's deadline."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bound = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bound))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every connection made a `_DeadlineStream`."""

    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bound = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bound, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bound = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, bound, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_client(client: httpx.Client) -> None:
    """Put `_DeadlineBackend` under every transport of `client`: the direct one and the
    proxies (a region's, or the environment's). Fails loudly if httpx's layout changes."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue
        if not isinstance(transport, httpx.HTTPTransport):
            raise TypeError(f"unexpected httpx transport {type(transport).__name__}")
        pool = transport._pool
        backend = pool._network_backend
        if not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)


# -- decoding, bounded ------------------------------------------------------------------------


class _Truncated(Exception):
    """A compressed stream that ended before its end marker."""


ZSTD_FEED = 32  # bytes of zstd input per call: at most 8 RLE blocks, 1 MB, come out of it


def _zlib_layer(chunks: Iterator[bytes], wbits: int, name: str) -> Iterator[bytes]:
    """gzip (wbits 16+15, members one after another) or deflate (zlib-wrapped, or raw as
    some servers send it): at most PIECE bytes out per step, whatever the ratio."""
    d = zlib.decompressobj(wbits)
    fed = False
    for chunk in chunks:
        data = chunk
        while data:
            if d.eof:  # a member ended at a chunk's end and another follows
                d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(data, PIECE)
            except zlib.error:
                if name == "deflate" and not fed:  # raw deflate, without the zlib header
                    wbits = -zlib.MAX_WBITS
                    d = zlib.decompressobj(wbits)
                    fed = True
                    continue
                raise
            fed = True
            if out:
                yield out
            data = d.unconsumed_tail
            if d.eof and not data and d.unused_data:  # the next member, in this chunk
                data, d = d.unused_data, zlib.decompressobj(wbits)
    if fed and not d.eof:
        raise _Truncated(f"the {name} stream ended early (truncated?)")


def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    return _zlib_layer(chunks, 16 + zlib.MAX_WBITS, "gzip")


def _deflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
    return _zlib_layer(chunks, zlib.MAX_WBITS, "deflate")


def _brotli(chunks: Iterator[bytes]) -> Iterator[bytes]:
    d = brotli.Decompressor()
    fed = False
    for chunk in chunks:
        fed = fed or bool(chunk)
        out = d.process(chunk, output_buffer_limit=PIECE)
        if out:
            yield out
        while not d.can_accept_more_data():
            out = d.process(b"", output_buffer_limit=PIECE)
            if not out:
                break
            yield out
    while fed and not d.is_finished():  # output still held after the last input
        out = d.process(b"", output_buffer_limit=PIECE)
        if not out:
            raise _Truncated("the br stream ended early (truncated?)")
        yield out


def _zstd(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """zstd has no bound on output per call, so its input goes in ZSTD_FEED bytes at a time;
    frames one after another are decoded one after another."""
    make = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj
    d = make()
    fed = False
    for chunk in chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), ZSTD_FEED):
            data = bytes(view[start : start + ZSTD_FEED])
            while data:
                if d.eof:
                    d = make()
                fed = True
                out = d.decompress(data)
                for i in range(0, len(out), PIECE):
                    yield out[i : i + PIECE]
                data = d.unused_data if d.eof else b""
    if fed and not d.eof:
        raise _Truncated("the zstd stream ended early (truncated?)")


Layer = Callable[[Iterator[bytes]], Iterator[bytes]]
DECODERS: dict[str, Layer] = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate}
if brotli is not None:
    DECODERS["br"] = _brotli
if zstandard is not None:
    DECODERS["zstd"] = _zstd
ACCEPT_ENCODING = ", ".join(e for e in ("gzip", "deflate", "br", "zstd") if e in DECODERS)
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    zlib.error,
    _Truncated,
    *((brotli.error,) if brotli is not None else ()),
    *((zstandard.ZstdError,) if zstandard is not None else ()),
)


def content_encodings(header: str | None, url: str) -> list[str]:
    """The layers of a Content-Encoding header in the order they must be undone (the last
    applied first). Raises FetchError for one watcher cannot decode, or too many."""
    names = [e.strip().lower() for e in (header or "").split(",")]
    names = [e for e in names if e and e != "identity"]
    for name in names:
        if name not in DECODERS:
            raise FetchError(
                f"refused Content-Encoding {name!r} from {url}: watcher decodes "
                f"{ACCEPT_ENCODING} only (and asks for nothing else)"
            )
    if len(names) > MAX_ENCODINGS:
        raise FetchError(
            f"refused {len(names)} layers of Content-Encoding from {url} "
            f"({', '.join(names)}; at most {MAX_ENCODINGS})"
        )
    return names[::-1]


def read_body(raw: Iterable[bytes], encodings: list[str], limit: int, url: str) -> bytes:
    """The decoded body, refused as soon as the bytes received or the bytes decoded pass
    `limit`. Every layer hands on at most PIECE bytes at a time, so memory stays at a few
    pieces per layer however much a layer would expand."""
    received = 0

    def counted() -> Iterator[bytes]:
        nonlocal received
        for chunk in raw:
            received += len(chunk)
            if received > limit:
                raise FetchError(
                    f"page larger than fetch.max_bytes ({limit} bytes): more than that "
                    f"came from {url}"
                )
            yield chunk

    stream: Iterator[bytes] = counted()
    for name in encodings:
        stream = DECODERS[name](stream)
    parts: list[bytes] = []
    size = 0
    try:
        for piece in stream:
            size += len(piece)
            if size > limit:
                layers = f" ({', '.join(encodings[::-1])} decoded)" if encodings else ""
                raise FetchError(
                    f"page larger than fetch.max_bytes ({limit} bytes) once decoded{layers}: "
                    f"{url} sent {received} bytes that expand past the cap"
                )
            parts.append(piece)
    except _DECODE_ERRORS as exc:
        raise FetchError(
            f"could not decode the {', '.join(encodings[::-1])} content from {url}: {exc}"
        ) from None
    return b"".join(parts)


# -- the fetcher ------------------------------------------------------------------------------


def _origin_host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".").lower()


class HttpFetcher:
    """httpx with a deadline per attempt, retries with backoff and Retry-After, a size cap on
    decoded bytes, and redirects kept on http(s) and on the target's host."""

    def __init__(self, settings: FetchSettings, regions: dict[str, Region]):
        self.settings = settings
        self.regions = regions
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()
        self.user_agent = settings.user_agent.format(version=__version__)
        # Started with the fetcher, which a run makes first: pages not started by then fail.
        self.run_deadline = RunDeadline(settings.run_deadline)

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _client(self, region: Region) -> httpx.Client:
        with self._lock:
            client = self._clients.get(region.code)
            if client is None:
                proxy = proxy_for(region)
                s = self.settings
                client = httpx.Client(
                    proxy=proxy,
                    # With a region proxy, NO_PROXY and HTTP(S)_PROXY must not route around it.
                    trust_env=proxy is None,
                    timeout=httpx.Timeout(s.timeout, connect=min(s.connect_timeout, s.timeout)),
                    follow_redirects=False,
                    headers={
                        "User-Agent": self.user_agent,
                        "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                        "Accept-Language": "en-US,en;q=0.8",
                        **region.headers,
                        # only what read_body can undo, whatever a region's headers say
                        "Accept-Encoding": ACCEPT_ENCODING,
                    },
                    limits=httpx.Limits(max_connections=max(4, s.concurrency * 2)),
                )
                _bound_client(client)
                self._clients[region.code] = client
            return client

    def fetch(self, url: str, region: Region, *, allow_hosts: Iterable[str] = ()) -> Page:
        """The page at `url` as `region` sees it. Redirects may go to `url`'s own host (and
        from http to https) or to `allow_hosts` (names, or `*.example.com`). Raises
        FetchError."""
        s = self.settings
        allowed = tuple(allow_hosts)
        self.run_deadline.check()
        last = ""
        for attempt in range(s.retries + 1):
            try:
                return self._fetch_once(url, region, allowed)
            except Retry as exc:
                last = str(exc)
                if attempt == s.retries:
                    break
                wait = retry_wait(exc, attempt, s)
                if self.run_deadline.ends_within(wait):
                    raise FetchError(
                        f"{last} (not retried: the run deadline, fetch.run_deadline "
                        f"{s.run_deadline:g} s, is reached)"
                    ) from None
                time.sleep(wait)
        raise FetchError(f"{last} (after {s.retries + 1} attempts)")

    def _fetch_once(self, url: str, region: Region, allowed: tuple[str, ...]) -> Page:
        s = self.settings
        started = time.monotonic()
        _attempt.deadline = started + s.timeout
        try:
            return self._follow(url, region, allowed, started)
        finally:
            _attempt.deadline = None

    def _follow(self, url: str, region: Region, allowed: tuple[str, ...], started: float) -> Page:
        s = self.settings
        client = self._client(region)
        home = _origin_host(url)
        cookies = {}
        if region.cookies:
            cookies["Cookie"] = "; ".join(f"{k}={v}" for k, v in region.cookies.items())
        current = url
        seen = [url]
        phase = "waiting for the response"
        received = 0
        for _ in range(s.max_redirects + 1):
            # the region's cookies are for the target's host, never another one
            headers = cookies if _origin_host(current) == home else {}
            phase = "waiting for the response"
            try:
                with client.stream("GET", current, headers=headers) as response:
                    status = response.status_code
                    if status in REDIRECT_STATUSES:
                        current = self._redirect(response, current, url, allowed, seen)
                        continue
                    if status in RETRY_STATUSES:
                        wait = retry_after(response.headers.get("retry-after"), s.max_retry_after)
                        raise Retry(f"HTTP {status} from {current}", wait)
                    ctype = response.headers.get("content-type", "text/html")
                    if status == 200 and not ctype.split(";")[0].strip().lower().startswith(
                        ACCEPTED_TYPES
                    ):
                        raise FetchError(f"unexpected content type {ctype!r} from {current}")
                    declared = response.headers.get("content-length", "")
                    if declared.strip().isdigit() and int(declared) > s.max_bytes:
                        raise FetchError(
                            f"page larger than fetch.max_bytes ({s.max_bytes} bytes): {current} "
                            f"declares {int(declared)} bytes"
                        )
                    encodings = content_encodings(response.headers.get("content-encoding"), current)
                    phase = "receiving the page"

                    def raw(response: httpx.Response = response) -> Iterator[bytes]:
                        nonlocal received
                        for chunk in response.iter_raw():
                            received += len(chunk)
                            yield chunk

                    body = read_body(raw(), encodings, s.max_bytes, current)
                    if status == 200 and not body.strip():
                        raise Retry(f"empty response from {current} (HTTP 200 without a body)")
                    return Page(
                        url=url,
                        final_url=current,
                        status=status,
                        content=decode(body, ctype),
                        content_type=ctype,
                        elapsed=time.monotonic() - started,
                    )
            except httpx.TimeoutException as exc:
                spent = time.monotonic() - started
                if spent >= s.timeout - 0.01 and phase == "receiving the page":
                    # the server answers, too slowly to trust: another attempt would do the same
                    raise FetchError(
                        f"page not received within fetch.timeout ({s.timeout:g} s): {current} "
                        f"was still sending after {received} bytes"
                    ) from None
                if spent >= s.timeout - 0.01:
                    raise Retry(
                        f"no complete response from {current} within fetch.timeout "
                        f"({s.timeout:g} s)"
                    ) from None
                raise Retry(f"timed out fetching {current} ({type(exc).__name__})") from None
            except httpx.RemoteProtocolError as exc:
                text = secrets.redact(str(exc))
                if "too long" in text or "too large" in text:
                    raise FetchError(
                        f"refused the response from {current}: its headers are too large ({text})"
                    ) from None
                raise Retry(
                    f"connection broke while fetching {current} (truncated?): {text}"
                ) from None
            except httpx.ProxyError as exc:
                raise Retry(
                    f"region proxy failed for {current}: {secrets.redact(str(exc))}"
                ) from None
            except httpx.TransportError as exc:
                raise Retry(
                    f"could not fetch {current}: {secrets.redact(str(exc)) or type(exc).__name__}"
                ) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise FetchError(
                    f"refused the address {current}: {secrets.redact(str(exc))}"
                ) from None
        loop = next((u for u in seen if seen.count(u) > 1), None)
        why = ""
        if loop is not None:
            first = seen.index(loop)
            why = f" (a redirect loop: {' → '.join(seen[first : seen.index(loop, first + 1) + 1])})"
        raise FetchError(f"more than {s.max_redirects} redirects from {url}{why}")

    def _redirect(
        self,
        response: httpx.Response,
        current: str,
        url: str,
        allowed: tuple[str, ...],
        seen: list[str],
    ) -> str:
        """The next address of a redirect, or FetchError when it may not be followed."""
        status = response.status_code
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {status} redirect without a Location from {current}")
        nxt: str = urljoin(current, str(location).strip())
        split, here = urlsplit(nxt), urlsplit(current)
        if split.scheme not in ("http", "https"):
            raise FetchError(
                f"refused redirect from {current} to a non-http(s) address ({split.scheme}:)"
            )
        if here.scheme == "https" and split.scheme == "http":
            raise FetchError(f"refused redirect from {current} down to plain http: {nxt}")
        host = (split.hostname or "").rstrip(".").lower()
        if host != _origin_host(url) and not host_allowed(host, allowed):
            raise FetchError(
                f"refused redirect from {current} to another host, {host or '(none)'}: "
                f"list it in the target's allow_redirect_hosts if its page is the target's"
            )
        seen.append(nxt)
        return nxt
