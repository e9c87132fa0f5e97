"""One page through verify → extract → normalize, and its comparison with the snapshot.

`process_page` is the one path a page takes, whether it was just fetched (`run`, `check`),
read from a file (`extract`), or re-read from a stored raw capture (upgrades, imports).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from . import __version__
from .classify import Classification, PageFacts, classify, section_names
from .diff import Change, diff_snapshots
from .errors import ExtractionError, RegionMismatch
from .evidence.captures import Capture, RawPage
from .evidence.store import Snapshot, sha256
from .extract import extract_sections
from .fetch import Fetchers
from .fetch.policy import Page
from .models import Config, Region, SnapshotMeta, Status, Target
from .normalize import render_markdown, sentences_of
from .page import Document, looks_like_markdown
from .stable import exposed, stable_digest
from .stable import version as stable_version
from .verify import check_complete, check_status, detect_wall, served_variant, verify_page

log = logging.getLogger("watcher")


@dataclass
class Observation:
    """What one fetch of a (target, region) yielded after verification and extraction."""

    text: str
    sentences: int
    page_chars: int
    matched: dict[str, list[str]] = field(default_factory=dict)
    final_url: str = ""
    input_key: str = ""  # what the text was made from; see input_key()
    reused: bool = False  # the input was the stored snapshot's own: nothing was processed
    # the page differed from the one `known` was made from only in what no snapshot reads
    # (its stable form was equal): nothing was processed
    same_stable_form: bool = False
    audit: str = ""  # with --audit, when a skip would have misread the page: what it hid
    raw: RawPage | None = None  # the page it was made from, to keep with the record


def process_page(
    content: str, content_type: str | None, url: str, target: Target, region: str, name: str = ""
) -> Observation:
    """Verify, extract and normalize one fetched (or saved) page. Raises WatcherError."""
    check_complete(content, looks_like_markdown(content, content_type, name))
    doc = Document.from_content(content, url, target.link_base, content_type, name)
    return process_document(doc, target, region)


def process_document(doc: Document, target: Target, region: str | None) -> Observation:
    """The stages after parsing. With `region` None nothing is verified and an empty
    extraction is returned as it is (`watcher extract`, for writing rules)."""
    if region is not None:
        verify_page(doc, target, region)
    extraction = extract_sections(doc, target.extract)
    text = render_markdown(extraction, target.link_base)
    count = len(sentences_of(text))
    if region is not None and count < target.extract.min_sentences:
        raise ExtractionError(
            f"section not found: only {count} sentences extracted, "
            f"min_sentences is {target.extract.min_sentences}"
        )
    return Observation(
        text=text,
        sentences=count,
        page_chars=len(doc.text),
        matched=extraction.matched,
        final_url=doc.url,
    )


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """The code that turns a page into a snapshot: a new version of it re-processes pages."""
    digest = hashlib.sha256(__version__.encode())
    for module in ("extract", "normalize", "page", "verify", "process"):
        digest.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return digest.hexdigest()


def rules_fingerprint(target: Target) -> str:
    """The target's rules and the code that applies them: when this changes, a stored raw
    capture may give another snapshot, and that is watcher's change, not Meta's."""
    digest = hashlib.sha256(_code_fingerprint().encode())
    digest.update(repr(target).encode())
    return digest.hexdigest()[:16]


def capture_of(
    page: Page, target: Target, region: Region, captured_at: str, data: bytes
) -> RawPage:
    """The capture record of a fetched page (`data`: its content as UTF-8)."""
    from .fetch.policy import proxy_for

    return RawPage(
        page.content,
        Capture(
            captured_at=captured_at,
            url=target.url,
            final_url=page.final_url,
            status=page.status,
            content_type=page.content_type,
            fetcher=page.fetcher,
            region=region.code,
            egress="proxy" if proxy_for(region) else "direct",
            watcher_version=__version__,
            rules=rules_fingerprint(target),
            sha256=hashlib.sha256(data).hexdigest(),
            bytes=len(data),
        ),
    )


def stored_digest(capture: Capture) -> str | None:
    """The stable digest a capture record holds, if today's stable form made it."""
    return capture.stable if capture.stable.startswith(stable_version() + ":") else None


class Offload(Protocol):
    """Where the pure, CPU-heavy steps of a page run (watcher.workers: other processes).
    Each method gives what the function it names gives here."""

    def digest(self, data: bytes, final_url: str, content_type: str | None) -> str: ...

    def basis(self, content: str, final_url: str, content_type: str | None) -> str: ...

    def process(
        self,
        content: str,
        content_type: str | None,
        url: str,
        target: Target,
        region: str,
        name: str = "",
    ) -> Observation: ...


def stable_basis(raw: RawPage | None, offload: Offload | None = None) -> str | None:
    """The stable digest of a stored capture, computed again when it was stored by another
    version of the stable form (or none: older records)."""
    if raw is None:
        return None
    capture = raw.capture
    if stored := stored_digest(capture):
        return stored
    args = (raw.content, capture.final_url or capture.url, capture.content_type or None)
    return offload.basis(*args) if offload is not None else stable_basis_of(*args)


def stable_basis_of(content: str, final_url: str, content_type: str | None) -> str:
    """The stable digest of a page's text (as UTF-8, as it was fetched)."""
    return stable_digest(content.encode("utf-8", "surrogatepass"), final_url, content_type)


def reprocess(
    raw: RawPage, target: Target, region: str, offload: Offload | None = None
) -> Observation:
    """A stored raw capture read again with today's rules (upgrades, `check --recorded`)."""
    capture = raw.capture
    content_type = capture.content_type or None
    url = capture.final_url or capture.url or target.url
    args = (raw.content, content_type, url, target, region, f"capture.{capture.extension}")
    obs = offload.process(*args) if offload is not None else process_page(*args)
    obs.raw = raw
    return obs


def input_key(page: Page, target: Target, region: str, content_sha256: str | None = None) -> str:
    """A fingerprint of everything a snapshot is made from: the page's bytes (by their
    sha256, which the capture record has already computed), where they came from, the
    target's rules and watcher's own code. Equal keys give equal snapshots."""
    if content_sha256 is None:
        content_sha256 = hashlib.sha256(page.content.encode("utf-8", "surrogatepass")).hexdigest()
    digest = hashlib.sha256(_code_fingerprint().encode())
    for part in (repr(target), region, page.final_url, page.content_type):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(content_sha256.encode())
    return digest.hexdigest()


def observe(
    fetchers: Fetchers,
    config: Config,
    target: Target,
    region: Region,
    known: Snapshot | None = None,
    now: str = "",
    basis: str | None = None,
    audit: bool = False,
    offload: Offload | None = None,
) -> Observation:
    """Fetch, verify, extract and normalize one (target, region). Raises WatcherError.

    When the page is byte for byte what `known` was made from (its `input` key), its text is
    reused without processing: an unchanged, stable page costs a fetch and a hash. So it is
    when the page's stable form equals `basis`, the stable digest of the page `known` was
    made from by today's rules (see watcher.stable), unless `known` shows something the
    stable form masks: an unchanged live page costs a fetch and a masked hash.

    With `audit`, every page is processed, and a page that either skip would have taken
    for `known` but that reads otherwise says so in `Observation.audit` (a bug in watcher).

    `offload` (a run's watcher.workers.Workers) computes the digest and the processing:
    in worker processes, or in the run's process one page at a time, so that fetches
    overlap and the parsed trees (megabytes each) do not pile up. Without it, here.
    """
    attempts = config.fetch.region_retries + 1
    for attempt in range(attempts):
        page = fetchers.fetch(target, region)
        check_status(page.status, page.final_url)
        data = page.content.encode("utf-8", "surrogatepass")
        raw = capture_of(page, target, region, now, data)
        key = input_key(page, target, region.code, raw.capture.sha256)
        same_bytes = known is not None and known.meta.input == key
        if not same_bytes:  # (a page reused by its bytes is not recorded: no digest needed)
            form = (data, page.final_url, page.content_type)
            raw.capture.stable = offload.digest(*form) if offload else stable_digest(*form)
        same_form = (
            not same_bytes
            and known is not None
            and basis is not None
            and raw.capture.stable == basis
            and not exposed(known.text)
        )
        if known is not None and (same_bytes or same_form) and not audit:
            return Observation(
                text=known.text,
                sentences=known.sentences,
                page_chars=known.meta.page_chars,
                matched=known.meta.matched,
                final_url=page.final_url,
                input_key=key,
                reused=True,
                same_stable_form=same_form,
                raw=raw,
            )
        try:
            args = (page.content, page.content_type, page.final_url, target, region.code)
            observation = offload.process(*args) if offload else process_page(*args)
            observation.input_key = key
            observation.raw = raw
            if known is not None and (same_bytes or same_form) and observation.text != known.text:
                how = "its bytes" if same_bytes else "its stable form"
                observation.audit = (
                    f"audit: skipping this page by {how} would have missed what it says now; "
                    "a bug in watcher (please report it), the page was processed in full"
                )
                log.error("%s/%s: %s", target.id, region.code, observation.audit)
            return observation
        except RegionMismatch:
            if attempt + 1 >= attempts:
                raise
            log.info("%s/%s: wrong region variant, fetching again", target.id, region.code)
            time.sleep(config.fetch.backoff * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def assess(
    old: Snapshot | None,
    new: Observation,
    target: Target,
    config: Config,
) -> tuple[Status, str | None, list[Change], Classification | None]:
    """Compare a new observation with the stored snapshot.

    Returns (status, reason, changes, classification) with status `unchanged`, `new`,
    `changed`, or `error` when the new text looks like a broken capture.
    """
    if old is None:
        return Status.NEW, None, [], None
    if old.text == new.text:
        return Status.UNCHANGED, None, [], None
    reason = collapse_reason(old, new, target)
    if reason:
        return Status.ERROR, reason, [], None
    changes = diff_snapshots(old.text, new.text)
    sections = (section_names(old.meta.matched), section_names(new.matched))
    facts = (
        PageFacts(old.meta.page_chars, old.meta.matched),
        PageFacts(new.page_chars, new.matched),
    )
    return (
        Status.CHANGED,
        None,
        changes,
        classify(old.text, new.text, changes, config.categories, sections, facts=facts),
    )


# A page's usual size: the median of the sizes of its last recorded versions, kept in the
# snapshot's metadata (a capture is judged against that, not only against the last one,
# so one bloated or truncated record cannot lock the page out).
SIZES = "recent_page_chars"
RECENT = 5
GROWTH_LIMIT = 3.0  # a capture three times the page's usual size carries other content
# Captures refused as collapsed or bloated that agree with each other (within 10%) are the
# page's new size after this many in a row: the baseline is re-based, not kept forever.
REBASE_AFTER = 3
REFUSED = "refused_page_chars"


def recent_sizes(old: Snapshot | None, page_chars: int) -> list[int]:
    """The sizes to record with a new version: the last few, this one last."""
    before = usual_sizes(old) if old is not None else []
    return [*before, page_chars][-RECENT:]


def usual_sizes(old: Snapshot) -> list[int]:
    sizes = old.meta.extra.get(SIZES)
    if isinstance(sizes, list) and all(isinstance(n, int) for n in sizes) and sizes:
        return list(sizes)
    return [old.meta.page_chars] if old.meta.page_chars else []


def usual_size(old: Snapshot) -> int:
    sizes = sorted(usual_sizes(old))
    return sizes[len(sizes) // 2] if sizes else 0


def collapse_reason(old: Snapshot, new: Observation, target: Target) -> str | None:
    """Why a new observation looks like a broken capture rather than a real change.

    A capture refused as collapsed or bloated is remembered with the baseline it was judged
    against (in memory: `watcher import` replays versions one after the other); when the
    last REBASE_AFTER refused captures agree with each other, the page has a new size and
    the capture is judged as a change."""
    reason = _collapse_reason(old, new, target)
    if reason is None or not reason.startswith("page "):
        return reason
    refused = old.meta.extra.setdefault(REFUSED, [])
    refused.append(new.page_chars)
    del refused[:-REBASE_AFTER]
    if len(refused) >= REBASE_AFTER and max(refused) <= min(refused) * 1.1:
        refused.clear()
        return None  # consistent captures: the page's size changed, not the capture
    return reason


def _collapse_reason(old: Snapshot, new: Observation, target: Target) -> str | None:
    limit = target.max_shrink
    usual = usual_size(old)
    if usual and new.page_chars < usual * (1 - limit):
        return (
            f"page collapsed from {usual} to {new.page_chars} characters of text "
            f"(more than {limit:.0%} below its usual size: truncated or broken capture?); "
            "snapshot kept"
        )
    if usual and new.page_chars > usual * GROWTH_LIMIT:
        return (
            f"page grew from {usual} to {new.page_chars} characters of text (more than "
            f"{GROWTH_LIMIT:.0f}× its usual size: repeated rows or another page captured "
            "with it?); snapshot kept"
        )
    # A rule that matched before and matches no more: a section the page lost or renamed.
    lost = [
        rule
        for kind in ("anchors", "headings", "phrases")
        for rule in old.meta.matched.get(kind, [])
        if rule not in new.matched.get(kind, [])
    ]
    # Fewer sentences while every rule still matches is a real change (an AI row that no
    # longer mentions AI leaves whole); without the old rules' record, judge by the count.
    if (
        old.sentences
        and new.sentences < old.sentences * (1 - limit)
        and (lost or not old.meta.matched)
    ):
        return (
            f"extraction shrank from {old.sentences} to {new.sentences} sentences "
            f"(more than {limit:.0%} gone: did a section rule stop matching?); snapshot kept"
        )
    return None


def as_snapshot(obs: Observation) -> Snapshot:
    """An observation as the snapshot a later fetch is compared with."""
    return Snapshot(
        obs.text,
        SnapshotMeta(
            input=obs.input_key,
            sentences=obs.sentences,
            page_chars=obs.page_chars,
            matched=obs.matched,
            sha256=sha256(obs.text),
        ),
    )


@dataclass
class Inspection:
    """What `watcher extract` prints about a saved page besides its snapshot text."""

    observation: Observation
    variant: set[str]
    wall: str | None


def inspect_page(content: str, target: Target, name: str = "") -> Inspection:
    """Extract a saved page offline, as `run` would but without judging it: the text even
    when the page would be refused, with what verification would say about it."""
    doc = Document.from_content(content, target.link_base, target.link_base, name=name)
    obs = process_document(doc, target, None)
    variant = served_variant(doc, target.markers) if target.markers else set()
    return Inspection(obs, variant, detect_wall(doc, target.expect))
