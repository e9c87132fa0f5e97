"""Atom feeds of recorded changes, committed with the change they describe.

One feed per region (`snapshots/feeds/<region>.xml`): region jobs run in parallel on
GitHub Actions, and a single shared file would make their commits conflict on rebase.

Each entry tells the change's story (story.py) and links to the change itself. The entry
is recorded in the same commit as the change, so the commit's hash cannot be in it: the
link is a search of the repository's commits for the recorded text's fingerprint, which
the commit carries in its `Watcher-Snapshot` trailer, and finds that one commit. The feed
links to itself (`rel=self`, where to subscribe: the raw file on the branch) and to the
repository, or the evidence site when there is one (`rel=alternate`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..classify import Event
from ..diff import Change
from ..env import GitHubContext
from ..render import story_html
from ..story import tell

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
    feed_url: str | None = None  # where this feed is subscribed to (rel=self)
    site_url: str | None = None  # the evidence the feed is about (rel=alternate)


def change_link(repository_url: str, snapshot_sha: str) -> str:
    """A URL that resolves to the commit recording a text: a commit search for the text's
    fingerprint (the commit's `Watcher-Snapshot` trailer)."""
    return f"{repository_url}/search?q={snapshot_sha[:16]}&type=commits"


def feed_url(github: GitHubContext, path: str) -> str | None:
    """The subscribable address of a committed feed file: the raw file on the branch."""
    repo = github.repository_url
    if not repo or not repo.startswith("https://github.com/"):
        return None
    raw = repo.replace("https://github.com/", "https://raw.githubusercontent.com/", 1)
    return f"{raw}/{github.ref_name}/{path}"


def change_entry(
    *,
    region_name: str,
    entry_id: str,
    title: str,
    updated: str,
    source_url: str,
    categories: list[str],
    changes: list[Change],
    events: list[Event],
    snapshot_sha: str,
    github: GitHubContext | None = None,
    feed_path: str = "",
) -> FeedEntry:
    """The feed entry of a recorded change: its story, and links to the change itself."""
    repo = github.repository_url if github is not None else None
    link = change_link(repo, snapshot_sha) if repo else None
    story = tell(changes, events)
    return FeedEntry(
        region_name=region_name,
        entry_id=entry_id,
        title=title,
        updated=updated,
        source_url=source_url,
        html=story_html(story, [("the change", link), ("source page", source_url)]),
        categories=categories,
        link=link,
        feed_url=feed_url(github, feed_path) if github is not None and feed_path else None,
        site_url=(github.pages_url or repo) if github is not None else None,
    )


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
    _feed_links(feed, item)
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


def _feed_links(feed: ET.Element, item: FeedEntry) -> None:
    """The feed's own links (rel=self, rel=alternate), after its title and id."""
    for rel, href in (("self", item.feed_url), ("alternate", item.site_url)):
        if not href:
            continue
        for old in feed.findall(_q("link")):
            if old.get("rel") == rel:
                feed.remove(old)
        link = ET.Element(_q("link"), {"rel": rel, "href": href})
        if rel == "self":
            link.set("type", "application/atom+xml")
        position = next(
            (i for i, el in enumerate(feed) if el.tag in (_q("entry"), _q("generator"))),
            len(feed),
        )
        feed.insert(position, link)


def _text(tag: str, value: str) -> ET.Element:
    el = ET.Element(_q(tag))
    el.text = value
    return el
