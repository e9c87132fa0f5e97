"""The Atom feed: each entry links to the change itself and tells its story; the feed links
to itself (where to subscribe) and to the evidence."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from watcher.classify import Event
from watcher.diff import diff_snapshots
from watcher.env import GitHubContext
from watcher.evidence.commits import snapshot_trailer
from watcher.evidence.feed import add_entry, change_entry

ATOM = "{http://www.w3.org/2005/Atom}"
OLD = "# AI integrations\n\nMeta sometimes shares the messages you send to our AIs.\n"
NEW = OLD + "We don't send personally identifying information, like your username.\n"


def _entry(sha: str, when: str):
    github = GitHubContext(repository="example-org/evidence", ref_name="main")
    changes = diff_snapshots(OLD, NEW)
    for c in changes:
        c.categories = ["exemptions"]
    return change_entry(
        region_name="EU",
        entry_id=f"urn:watcher:t:eu:{sha}:{when}",
        title="Meta Privacy Policy (EU): exemptions wording changed",
        updated=when,
        source_url="https://mbasic.facebook.com/privacy/policy/printable/",
        categories=["exemptions"],
        changes=changes,
        events=[Event("form_added", "Form link added: contact/1 (“object”)", ["opt_out"])],
        snapshot_sha=sha,
        github=github,
        feed_path="snapshots/feeds/eu.xml",
    )


def test_each_entry_links_to_the_change_and_the_feed_to_itself():
    sha = "3f2a9c0d11e2b7a45566778899aabbcc"
    text = add_entry(None, _entry(sha, "2026-01-01T00:00:00Z"))
    text = add_entry(text, _entry("0" * 32, "2026-02-01T00:00:00Z"))
    feed = ET.fromstring(text)
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "self": "https://raw.githubusercontent.com/example-org/evidence/main/snapshots/feeds/eu.xml",
        "alternate": "https://github.com/example-org/evidence",
    }
    assert len(feed.findall(f"{ATOM}link")) == 2  # not repeated with every entry
    first = feed.findall(f"{ATOM}entry")[-1]
    [change] = [x for x in first.findall(f"{ATOM}link") if x.get("rel") == "alternate"]
    # the commit carries the fingerprint the link searches for
    assert change.get("href") == (
        f"https://github.com/example-org/evidence/search?q={sha[:16]}&type=commits"
    )
    assert snapshot_trailer(sha) == f"Watcher-Snapshot: {sha[:16]}"
    content = first.find(f"{ATOM}content")
    assert content is not None and content.text is not None
    assert "Form link added" in content.text and "personally identifying" in content.text
