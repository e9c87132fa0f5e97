"""Fetch pages that render with JavaScript, with a headless Chromium driven by Playwright.

The Privacy Center and Instagram's policy build their text in the browser; a plain HTTP
fetch gets a script shell. This fetcher captures them whole, never half-rendered:

* navigate, then wait until the target's expected text is on the page *and* the DOM has
  been quiet for `settle_quiet` seconds, within the overall `fetch.timeout`. A page still
  changing at the deadline raises "page never settled": an error, never a change;
* cookie and consent dialogs are dismissed (refusing optional cookies when offered) or
  removed before the capture; walls are left to `verify` (a login wall becomes `blocked`);
* one Chromium per run, launched on first use; one browser context per region, with the
  region's headers, cookies and `WATCHER_PROXY_<REGION>` egress, so nothing mixes;
* pages in parallel up to `fetch.concurrency`, everything closed by `close()`.

Threads: the pipeline calls `fetch()` from several worker threads, but Playwright objects
belong to the thread (and event loop) that made them. So one private thread runs an asyncio
loop that owns Playwright, the browser and every page; `fetch()` hands it a coroutine and
waits. The async API lets that single thread drive many pages at once.

Playwright is imported only when the first browser page is fetched, so `watcher --help`
and HTTP-only runs never pay for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import importlib.util
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .. import __version__, env, secrets
from ..errors import FetchError
from ..models import FetchSettings, Region, Target
from ..page import WALL_MAX_CHARS, WALLS, Document, anchor_matches, fold_text
from .policy import RETRY_STATUSES, Page, Retry, RunDeadline, proxy_for, retry_after, retry_wait

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright
    from playwright.async_api import Page as PlaywrightPage

log = logging.getLogger("watcher")

INSTALL_HINT = "pip install 'watcher[browser]'"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Playwright adds --headless itself (launch(headless=True)). The rest: root in containers
# and CI cannot use Chromium's sandbox; no GPU on servers; and on a closed network Chromium's
# own background traffic (component updates, sync, QUIC probes) gets connections refused
# and can stall start-up, so it is switched off.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Chromium never sends loopback requests through a proxy unless told to; a region's egress
# must carry every request (and the tests' proxies listen on 127.0.0.1).
PROXY_BYPASS = "<-loopback>"
DEFAULT_QUIET = 0.5  # seconds without a DOM change before a capture counts as settled
POLL = 0.1  # seconds between looks at a settling page
DISMISS_GRACE_MS = 1000  # a clicked consent dialog still there after this is removed

# Notes the time of every DOM change that can alter the text: nodes added or removed (not
# scripts and styles, which loaders add all the time), text edits, and the attributes that
# hide or show content. Style and class changes are left out: animations change them forever.
OBSERVER_JS = """
(() => {
  if (window.__watcher) return;
  // `doc` tells documents apart: a client-side redirect starts a new count.
  const state = window.__watcher = {last: performance.now(), count: 0, doc: Math.random()};
  const inert = new Set(['SCRIPT', 'STYLE', 'LINK', 'META', 'NOSCRIPT', 'TEMPLATE']);
  const counts = (m) => {
    if (m.type !== 'childList') return true;
    for (const list of [m.addedNodes, m.removedNodes])
      for (const n of list) if (!inert.has(n.nodeName)) return true;
    return false;
  };
  new MutationObserver((records) => {
    if (records.some(counts)) { state.last = performance.now(); state.count += 1; }
  }).observe(document, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ['hidden', 'aria-hidden', 'open'],
  });
})();
"""

# Dismisses cookie/consent dialogs, then reports how long the DOM has been quiet. A dialog
# (role, element or aria-modal) counts when its text is about cookies or consent and it either
# offers a consent button or is short: a long dialog without one is content, not a banner.
# Refusing optional cookies comes first: watcher should not consent to tracking when it may
# decline. A dialog still there a moment after its button was clicked is removed; a short
# one with no button we know is removed at once.
SETTLE_JS = """
(grace) => {
  const consent = [
    /^(?:decline|reject|refuse) (?:all )?optional cookies$/, /^only allow essential cookies$/,
    /^(?:allow|accept) (?:only )?(?:essential|necessary) cookies(?: only)?$/,
    /^(?:reject|decline|refuse)(?: all)?(?: cookies)?$/,
    /^(?:allow|accept) all(?: cookies)?$/, /^(?:accept|allow)(?: cookies)?$/, /^i accept$/,
  ];
  const generic = [/^ok(?:ay)?$/, /^got it$/, /^close$/, /^dismiss$/];
  const SHORT = 3000;
  const name = (b) => (b.innerText || b.value || b.getAttribute('aria-label') || '')
    .replace(/\\s+/g, ' ').trim().toLowerCase();
  const pick = (buttons, patterns) => {
    for (const re of patterns) {
      const found = buttons.find((b) => re.test(name(b)));
      if (found) return found;
    }
    return null;
  };
  const now = performance.now();
  let handled = 0;
  const dialogs = document.querySelectorAll(
    '[role=dialog], [role=alertdialog], dialog, [aria-modal=true]');
  for (const d of dialogs) {
    if (!d.isConnected) continue;
    const text = d.innerText || d.textContent || '';
    if (!/cookie|consent/i.test(text)) continue;
    const short = text.length <= SHORT;
    if (d.__watcherSeen === undefined) {
      // Meta's dialog carries hidden, disabled copies of its buttons: click a live one.
      const buttons = [...d.querySelectorAll(
        'button, [role=button], input[type=button], input[type=submit], a')]
        .filter((b) => !b.disabled && b.getAttribute('aria-disabled') !== 'true'
                       && !b.closest('[aria-hidden=true]'));
      const chosen = pick(buttons, consent) || (short ? pick(buttons, generic) : null);
      if (!chosen && !short) continue;
      d.__watcherSeen = now;
      handled += 1;
      if (chosen) { chosen.click(); continue; }
      d.remove();
      continue;
    }
    handled += 1;
    if (now - d.__watcherSeen >= grace) d.remove();
  }
  const s = window.__watcher;
  if (!s) return {quiet: 0, count: -1, key: '', handled, loading: true};
  return {quiet: performance.now() - s.last, count: s.count, key: s.doc + ':' + s.count,
          handled, loading: document.readyState === 'loading'};
}
"""
KEY_JS = "() => (window.__watcher ? window.__watcher.doc + ':' + window.__watcher.count : '')"


def playwright_missing() -> str | None:
    """Why Playwright cannot be used, or None. Looks without importing it (that is slow)."""
    try:
        found = importlib.util.find_spec("playwright.async_api") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return f"Playwright is not installed ({INSTALL_HINT})"
    return None


def _playwright_browsers() -> list[str]:
    """Chromium builds Playwright itself installed (`playwright install chromium`), newest first."""
    root = env.playwright_browsers_path()
    if not root or root == "0":
        base = env.xdg_cache_home() or str(Path.home() / ".cache")
        root = str(Path(base) / "ms-playwright")
    patterns = (
        "chromium-*/chrome-linux*/chrome",
        "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
        "chromium_headless_shell-*/chrome-linux*/headless_shell",
    )
    found = [p for pat in patterns for p in glob.glob(os.path.join(root, pat))]

    def build(path: str) -> int:
        digits = Path(path).relative_to(root).parts[0].rsplit("-", 1)[-1]
        return int(digits) if digits.isdigit() else 0

    return sorted((p for p in found if os.access(p, os.X_OK)), key=build, reverse=True)


def find_chromium() -> tuple[str | None, str | None]:
    """(path, None) for the Chromium to drive, or (None, why there is none).

    Order: WATCHER_CHROMIUM; chromium, chromium-browser, google-chrome on PATH; a browser
    Playwright installed. A WATCHER_CHROMIUM that does not work is reported, not skipped
    over: whoever set it meant that browser.
    """
    chosen = env.chromium_override()
    if chosen:
        path = shutil.which(chosen)
        if path:
            return path, None
        return None, f"WATCHER_CHROMIUM={chosen} is not an executable Chromium"
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path, None
    own = _playwright_browsers()
    if own:
        return own[0], None
    return None, (
        "no Chromium found (install Debian's chromium: apt-get install chromium, "
        "or set WATCHER_CHROMIUM to a Chromium or Chrome executable)"
    )


def browser_missing() -> str | None:
    """Why the browser fetcher cannot run here, or None when it can."""
    return playwright_missing() or find_chromium()[1]


def proxy_settings(url: str) -> dict[str, str]:
    """Playwright's proxy option from a proxy URL: credentials go in their own fields."""
    split = urlsplit(url if "://" in url else f"http://{url}")
    host = split.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    server = f"{split.scheme}://{host}" + (f":{split.port}" if split.port else "")
    out = {"server": server, "bypass": PROXY_BYPASS}
    if split.username:
        out["username"] = unquote(split.username)
        out["password"] = unquote(split.password or "")
    return out


def content_ready(doc: Document, target: Target) -> bool:
    """Whether the rendered page holds what the target expects: its length, every `expect`
    phrase and (when the target has extraction rules) a heading, phrase or anchor they seek.
    A shell or a half-built page shows the title and navigation first, so the title alone
    ("Privacy Policy") is not enough."""
    text = doc.text
    if len(text) < target.min_length:
        return False
    folded = fold_text(text).lower()
    if any(fold_text(p).lower() not in folded for p in target.expect):
        return False
    rules = target.extract
    patterns = (*rules.headings, *rules.phrases)
    if not patterns and not rules.anchors:
        return True
    if any(p.search(text) for p in patterns):
        return True
    ids = [node.id for node in doc.tree.css("[id]") if node.id]
    return any(anchor_matches(rule, i) for rule in rules.anchors for i in ids)


def wall_phrase(doc: Document) -> str | None:
    """A wall's phrase on a short page (the walls `verify` refuses), so a login wall is
    returned at once for `verify` to call `blocked`, instead of waiting out the timeout for
    text that will never come. Title-only pages are not walls here: a shell still
    rendering is one."""
    text = doc.text
    if len(text) > WALL_MAX_CHARS:
        return None
    for reason, pattern in WALLS:
        if pattern.search(text):
            return reason
    return None


def _first_line(exc: BaseException) -> str:
    """Playwright's messages carry a multi-line call log; the first line says what failed."""
    text = str(exc).strip().splitlines()
    return secrets.redact(text[0] if text else type(exc).__name__)


class BrowserFetcher:
    """Headless Chromium through Playwright; thread-safe; `close()` ends every process."""

    def __init__(
        self,
        settings: FetchSettings,
        regions: dict[str, Region],
        *,
        quiet: float | None = None,
        executable: str | None = None,
    ):
        self.settings = settings
        self.regions = regions
        if quiet is None:  # `fetch.settle_quiet` once the config has it, else half a second
            quiet = getattr(settings, "settle_quiet", None) or DEFAULT_QUIET
        self.quiet: float = quiet
        self.executable = executable
        # the run's deadline (`fetch.run_deadline`): no attempt starts after it. Set by who
        # owns the run's clock (the HTTP fetcher's, `HttpFetcher.run_deadline`); None: none.
        self.run_deadline: RunDeadline | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Owned by the loop thread only:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._contexts: dict[str, BrowserContext] = {}
        self._launch_lock: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None
        self._launch_error: str | None = None
        self._user_agent = ""

    def __enter__(self) -> BrowserFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop thread ---------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                # A daemon thread: a browser that hangs must not keep the process alive.
                thread = threading.Thread(target=run, name="watcher-browser", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def _call(self, coro: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            # A safety net only: every step inside has its own bound.
            future.cancel()
            raise FetchError(f"browser did not answer within {timeout:.0f} s") from None

    # -- public ------------------------------------------------------------------------

    def fetch(self, target: Target, region: Region) -> Page:
        """The rendered page of `target` as `region` sees it. Raises FetchError."""
        s = self.settings
        bound = (s.timeout + s.max_retry_after + 30) * (s.retries + 1)
        page: Page = self._call(self._fetch(target, region), bound)
        return page

    def close(self) -> None:
        """Close pages, contexts, the browser and Playwright, then stop the loop thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(30)
        except Exception as exc:  # closing must go on: the process is what matters
            log.warning("browser: closing failed: %s", _first_line(exc))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(10)
            if not loop.is_running():
                loop.close()

    # -- inside the loop ---------------------------------------------------------------

    async def _shutdown(self) -> None:
        # Locks and slots belong to this loop; a fetch after close() starts afresh.
        self._launch_lock = self._slots = None
        self._launch_error = None
        contexts, self._contexts = list(self._contexts.values()), {}
        browser, self._browser = self._browser, None
        playwright, self._playwright = self._playwright, None
        try:
            for context in contexts:
                try:
                    await context.close()
                except Exception as exc:
                    log.debug("browser: closing a context failed: %s", _first_line(exc))
            if browser is not None:
                await browser.close()
        finally:
            if playwright is not None:
                await playwright.stop()

    async def _start(self) -> Browser:
        if self._launch_lock is None:
            self._launch_lock = asyncio.Lock()
            self._slots = asyncio.Semaphore(max(1, self.settings.concurrency))
        async with self._launch_lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._launch_error:  # a browser that cannot start fails fast for the run
                raise FetchError(self._launch_error)
            if self._browser is not None:  # it crashed: start a new one, with new contexts
                log.warning("browser: Chromium went away; starting it again")
                self._contexts.clear()
                self._browser = None
            problem = playwright_missing()
            path, missing = (self.executable, None) if self.executable else find_chromium()
            if problem or missing:
                self._launch_error = f"browser fetcher unavailable: {problem or missing}"
                raise FetchError(self._launch_error)
            started = time.perf_counter()
            try:
                if self._playwright is None:
                    from playwright.async_api import async_playwright

                    self._playwright = await async_playwright().start()
                browser = await self._playwright.chromium.launch(
                    executable_path=path,
                    headless=True,
                    args=list(CHROMIUM_ARGS),
                    timeout=self.settings.timeout * 1000,
                )
            except Exception as exc:
                self._launch_error = f"could not start Chromium ({path}): {_first_line(exc)}"
                if self._playwright is not None:
                    playwright, self._playwright = self._playwright, None
                    await playwright.stop()
                raise FetchError(self._launch_error) from None
            self._browser = browser
            # Chromium's own user agent, with watcher named in it: recognisably a current
            # browser (Meta refuses unknown ones) that still says who is visiting.
            session = await browser.new_browser_cdp_session()
            version = await session.send("Browser.getVersion")
            await session.detach()
            self._user_agent = f"{version['userAgent']} watcher/{__version__}"
            log.info(
                "browser: started %s (%s) in %.1f s",
                path,
                browser.version,
                time.perf_counter() - started,
            )
            return browser

    async def _context(self, region: Region) -> BrowserContext:
        browser = await self._start()
        assert self._launch_lock is not None
        async with self._launch_lock:
            context = self._contexts.get(region.code)
            if context is not None:
                return context
            options: dict[str, Any] = {
                "user_agent": self._user_agent,
                "extra_http_headers": dict(region.headers),
                # A service worker could answer from its cache: every capture must be fresh.
                "service_workers": "block",
            }
            proxy = proxy_for(region)
            if proxy:
                options["proxy"] = proxy_settings(proxy)
            context = await browser.new_context(**options)
            await context.add_init_script(script=OBSERVER_JS)
            self._contexts[region.code] = context
            return context

    async def _fetch(self, target: Target, region: Region) -> Page:
        from playwright.async_api import Error as PlaywrightError

        try:
            return await self._fetch_retrying(target, region)
        except PlaywrightError as exc:
            # Chromium crashed or was closed under the page: an error for this page only.
            raise FetchError(f"browser failed on {target.url}: {_first_line(exc)}") from None

    async def _fetch_retrying(self, target: Target, region: Region) -> Page:
        s = self.settings
        context = await self._context(region)
        assert self._slots is not None
        last = ""
        for attempt in range(s.retries + 1):
            if self.run_deadline is not None:
                if attempt and self.run_deadline.ends_within(0):
                    raise FetchError(f"{last} (not retried: the run deadline is reached)")
                self.run_deadline.check()
            try:
                async with self._slots:
                    return await self._capture(context, target, region)
            except Retry as exc:
                last = str(exc)
                if attempt == s.retries:
                    break
                await asyncio.sleep(retry_wait(exc, attempt, s))
        raise FetchError(f"{last} (after {s.retries + 1} attempts)")

    async def _capture(self, context: BrowserContext, target: Target, region: Region) -> Page:
        from playwright.async_api import Error as PlaywrightError

        s = self.settings
        started = time.perf_counter()
        deadline = started + s.timeout
        if region.cookies:
            split = urlsplit(target.url)
            site = f"{split.scheme}://{split.netloc}/"
            await context.add_cookies(
                [{"name": k, "value": v, "url": site} for k, v in region.cookies.items()]
            )
        page = await context.new_page()
        try:
            try:
                # the navigation shares the attempt's one deadline with the settling after it
                left = max(deadline - time.perf_counter(), 0.1)
                response = await page.goto(
                    target.url, wait_until="domcontentloaded", timeout=left * 1000
                )
            except PlaywrightError as exc:
                raise Retry(f"could not load {target.url}: {_first_line(exc)}") from None
            if response is None:
                raise FetchError(f"no response loading {target.url}")
            status = response.status
            if status in RETRY_STATUSES:
                wait = retry_after(await response.header_value("retry-after"), 0)
                raise Retry(f"HTTP {status} from {page.url}", wait)
            html = await self._settle(page, target, status, deadline)
            final_url = page.url
        finally:
            try:
                await page.close()
            except PlaywrightError as exc:  # the browser went away; the capture's error counts
                log.debug("browser: closing a page failed: %s", _first_line(exc))
        if urlsplit(final_url).scheme not in ("http", "https"):
            raise FetchError(f"page ended at a non-http(s) address ({urlsplit(final_url).scheme}:)")
        if len(html.encode("utf-8")) > s.max_bytes:
            raise FetchError(
                f"rendered page from {final_url} exceeds the fetch.max_bytes cap of {s.max_bytes}"
            )
        return Page(
            url=target.url,
            final_url=final_url,
            status=status,
            content=html,
            content_type="text/html",
            elapsed=time.perf_counter() - started,
            fetcher="browser",
        )

    async def _settle(
        self, page: PlaywrightPage, target: Target, status: int, deadline: float
    ) -> str:
        """The page's DOM once it is complete and quiet; raises FetchError if it never is.

        Complete: the target's expected text is there (or the page is a wall, or an HTTP
        error page, which `verify` reports). A page that is quiet at the deadline without
        the expected text is returned as it stands, for `verify` to say what is missing.
        """
        from playwright.async_api import Error as PlaywrightError

        quiet_ms = self.quiet * 1000
        checked = ""  # the (document, mutation count) whose DOM was last inspected
        held: str | None = None  # that DOM, quiet but not (yet) complete
        state: dict[str, Any] = {}
        while True:
            try:
                state = await page.evaluate(SETTLE_JS, DISMISS_GRACE_MS)
            except PlaywrightError:
                # The document was replaced (a client-side redirect): the new one starts over.
                state = {"quiet": 0.0, "count": -1, "key": "", "handled": 0, "loading": True}
            quiet = state["quiet"] >= quiet_ms and not state["loading"] and not state["handled"]
            if quiet and state["key"] != checked:
                try:
                    html = await page.content()
                    same = await page.evaluate(KEY_JS) == state["key"]
                except PlaywrightError:
                    same = False
                if same:
                    checked, held = state["key"], html
                    doc = Document(html)
                    if status >= 400 or content_ready(doc, target) or wall_phrase(doc):
                        return html
            if time.perf_counter() >= deadline:
                if quiet and held is not None and state["key"] == checked:
                    return held
                waited = self.settings.timeout
                if state["count"] < 0:
                    raise FetchError(f"page never settled within {waited:g} s: it kept navigating")
                raise FetchError(
                    f"page never settled within {waited:g} s: the DOM was still changing "
                    f"({state['count']} changes, the last {state['quiet']:.0f} ms before "
                    f"the deadline)"
                )
            # Look again when the quiet period would be over, or after POLL while waiting for
            # text or for a clicked dialog to go.
            remaining = quiet_ms - state["quiet"]
            wait = remaining / 1000 + 0.01 if remaining > 0 else POLL
            await asyncio.sleep(min(wait, max(deadline - time.perf_counter(), 0.01)))
