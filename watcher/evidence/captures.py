"""Raw captures: the page a snapshot was made from, kept beside the evidence.

Every recorded version stores, in the same commit as its snapshot:

    snapshots/.captures/<target>/<region>.html   (or .md for archived text versions)
    snapshots/.captures/<target>/<region>.json   the capture record

The page is stored as the text watcher processed (decoded, UTF-8), uncompressed: git
compresses and delta-packs successive versions of one page far better than it packs
gzip files (measured on three real versions of the printable policy: 101 KiB packed as
text against 198 KiB as .gz). The folder is hidden so the snapshots read cleanly on
GitHub, and a clone that wants only the text can skip it with
`git sparse-checkout set --no-cone '/*' '!/snapshots/.captures/'`.

The capture record says where the page came from (never a proxy's address or
credentials: only whether the egress was a proxy), and with which rules it was read, so
`watcher check --recorded REV` can re-read it and an upgrade of the rules can be told
apart from a change by Meta.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CAPTURES = ".captures"


@dataclass
class Capture:
    """How one raw page was obtained."""

    captured_at: str = ""
    url: str = ""
    final_url: str = ""
    status: int = 0
    content_type: str = ""
    fetcher: str = ""  # http | browser | archive
    region: str = ""
    egress: str = ""  # proxy | direct | archive (never the proxy's address)
    watcher_version: str = ""
    rules: str = ""  # fingerprint of the target's rules and the snapshot code
    sha256: str = ""  # of the stored page text, UTF-8
    bytes: int = 0
    # the stable form's digest (see watcher.stable): equal for a later fetch that differs
    # only in tracking values, CDN hosts, class names, nonces, scripts and styles
    stable: str = ""
    source: dict[str, str] = field(default_factory=dict)  # archive, commit, date for imports

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Capture:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def extension(self) -> str:
        return "md" if "markdown" in self.content_type or self.fetcher == "archive" else "html"


@dataclass
class RawPage:
    """A raw page with its capture record. A page waiting for its commit may be spooled:
    its UTF-8 bytes in a file (`spool`) and `content` empty, so that a run that records
    hundreds of pages never holds them all in memory (see evidence.record)."""

    content: str
    capture: Capture
    spool: Path | None = None

    def data(self) -> bytes | Path:
        """The page's bytes, or the spooled file that holds them."""
        if self.spool is not None:
            return self.spool
        return self.content.encode("utf-8", "surrogatepass")

    def record_text(self) -> str:
        return json.dumps(self.capture.to_json(), indent=2, sort_keys=True) + "\n"


def capture_paths(snapshots: str | Path, target: str, region: str) -> tuple[Path, Path, Path]:
    """(html page, markdown page, record) paths; a capture uses one of the two pages."""
    folder = Path(snapshots) / CAPTURES / target
    return folder / f"{region}.html", folder / f"{region}.md", folder / f"{region}.json"


def page_path(snapshots: str | Path, target: str, region: str, capture: Capture) -> Path:
    html, md, _ = capture_paths(snapshots, target, region)
    return md if capture.extension == "md" else html


def parse_capture(record: str, pages: dict[str, str | None]) -> RawPage | None:
    """A RawPage from a record's text and the candidate page texts by extension."""
    capture = Capture.from_json(json.loads(record))
    content = pages.get(capture.extension)
    return RawPage(content, capture) if content is not None else None


def read_record(snapshots: str | Path, target: str, region: str) -> Capture | None:
    """The capture record alone (a few hundred bytes), without the page it describes."""
    record = capture_paths(snapshots, target, region)[2]
    try:
        text = record.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Capture.from_json(json.loads(text))


def read_capture(snapshots: str | Path, target: str, region: str) -> RawPage | None:
    """The stored raw capture of a snapshot in the working tree, if it has one."""
    html, md, record = capture_paths(snapshots, target, region)
    if not record.exists():
        return None
    # bytes, not read_text(): a page's own CR LF line ends must survive the round trip
    pages = {
        "html": html.read_bytes().decode("utf-8", "surrogatepass") if html.exists() else None,
        "md": md.read_bytes().decode("utf-8", "surrogatepass") if md.exists() else None,
    }
    return parse_capture(record.read_text(encoding="utf-8"), pages)
