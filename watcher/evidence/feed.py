"""Atom feeds of recorded changes, committed with the change they describe.

One feed per region (`snapshots/feeds/<region>.xml`): region jobs run in parallel on
GitHub Actions, and a single shared file would make their commits conflict on rebase.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100
ET.register_namespace("", ATOM)


def _q(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def feed_path(snapshots: Path, region: str) -> Path:
    return Path(snapshots) / "feeds" / f"{region}.xml"


@dataclass(frozen=True)
class FeedEntry:
    region_name: str
    entry_id: str  # unique per recorded change
    title: str
    updated: str
    source_url: str
    html: str
    categories: list[str] = field(default_factory=list)
    link: str | None = None  # where the change itself can be read


def add_entry(existing: str | None, item: FeedEntry) -> str:
    """The region's feed text with one entry prepended (a new feed when there is none),
    keeping the newest entries."""
    region_name, entry_id, title = item.region_name, item.entry_id, item.title
    updated, source_url, html = item.updated, item.source_url, item.html
    categories, link = item.categories, item.link
    if existing:
        feed = ET.fromstring(existing)
        tree = ET.ElementTree(feed)
    else:
        feed = ET.Element(_q("feed"))
        ET.SubElement(feed, _q("title")).text = f"watcher: Meta AI-training wording ({region_name})"
        ET.SubElement(feed, _q("id")).text = f"urn:watcher:feed:{region_name.lower()}"
        ET.SubElement(feed, _q("updated")).text = updated
        gen = ET.SubElement(feed, _q("generator"))
        gen.text, gen.attrib["version"] = "watcher", __version__
        tree = ET.ElementTree(feed)
    feed.find(_q("updated")).text = updated  # type: ignore[union-attr]
    entry = ET.Element(_q("entry"))
    ET.SubElement(entry, _q("id")).text = entry_id
    ET.SubElement(entry, _q("title")).text = title
    ET.SubElement(entry, _q("updated")).text = updated
    ET.SubElement(entry, _q("author")).append(_text("name", "watcher"))
    ET.SubElement(entry, _q("link"), {"rel": "related", "href": source_url})
    if link:  # where the change itself can be read (its commit)
        ET.SubElement(entry, _q("link"), {"rel": "alternate", "href": link})
    for category in categories:
        ET.SubElement(entry, _q("category"), {"term": category})
    content = ET.SubElement(entry, _q("content"), {"type": "html"})
    content.text = html  # serialized escaped: readers render it, nothing executes here
    entries = feed.findall(_q("entry"))
    first = list(feed).index(entries[0]) if entries else len(feed)
    feed.insert(first, entry)
    for old in feed.findall(_q("entry"))[MAX_ENTRIES:]:
        feed.remove(old)
    ET.indent(tree, space="  ")
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"


def _text(tag: str, value: str) -> ET.Element:
    el = ET.Element(_q(tag))
    el.text = value
    return el
