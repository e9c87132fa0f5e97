"""Render changes for people: Markdown (commits, GitHub), HTML (email, feed), plain text (push,
the email's text part).

* Removed and added text are marked in every form: `+ added`, `- removed`, `~ modified`
  with `[-old words-] {+new words+}` in text; `<del>`/`<ins>` with inline styles in HTML.
  Deleted and inserted words are kept apart by a space, so they never run together.
* Links stay links: objection forms (`facebook.com/help/contact/<id>`) are clickable in HTML.
* A change repeated in many sections says where ("in 17 sections of Legal basis
  information"); a sentence that left one row says which ("removed from “Developing and
  improving AI at Meta” (For all registered users, including those under the age of
  majority)").
* Page content is always escaped: a page that carries `<script>` or `<img onerror>` is shown
  as text. A modified sentence shows its word diff on the readable text (link targets
  hidden), unless only a link target changed, then on the raw sentence so the new address
  shows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from .classify import FORM_LINK, Event, plain
from .diff import DELETE, EQUAL, INSERT, Change, word_diff
from .models import category_labels
from .story import Story, where

DEL_STYLE = "background:#ffebe9;color:#82071e;text-decoration:line-through"
INS_STYLE = "background:#dafbe1;color:#116329;text-decoration:none;font-weight:600"
_LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\(([^)\s]*)\)")
SIGNS = {"added": "+", "removed": "-", "modified": "~"}


def _words(change: Change) -> list[tuple[int, str]]:
    old, new = plain(change.old or ""), plain(change.new or "")
    if old == new:  # only a link target moved: show it
        old, new = change.old or "", change.new or ""
    return word_diff(old, new)


def apart(words: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The word diff with a space wherever a deletion meets an insertion."""
    out: list[tuple[int, str]] = []
    for op, text in words:
        touching = out and op != EQUAL and out[-1][0] not in (EQUAL, op)
        if touching and not (out[-1][1].endswith(" ") or text.startswith(" ")):
            out.append((EQUAL, " "))
        out.append((op, text))
    return out


_TITLE_MAX = 90


def short_section(section: str) -> str:
    """A section path for a heading line: its last two titles, each cut to a readable
    length (a table row's title is the whole first cell of the row)."""
    parts = [p.strip() for p in plain(section).split("›") if p.strip()]
    cut = [
        p if len(p) <= _TITLE_MAX else p[: _TITLE_MAX - 1].rsplit(" ", 1)[0] + "…" for p in parts
    ]
    return " › ".join(cut[-2:])


def _sections(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    groups: list[tuple[str, list[Change]]] = []
    for change in changes:
        section = short_section(change.section)
        if groups and groups[-1][0] == section:
            groups[-1][1].append(change)
        else:
            groups.append((section, [change]))
    return groups


def _labels(categories: list[str]) -> str:
    return ", ".join(category_labels(categories))


def _shown(changes: Iterable[Change]) -> list[Change]:
    """Sentences and renamed headings (a heading that came or went is its section's)."""
    return [c for c in changes if not c.heading or c.kind == "modified"]


def text_inline(sentence: str) -> str:
    """A sentence for plain text: link targets dropped, except a form's (its id matters)."""

    def link(m: re.Match[str]) -> str:
        label = m.group(1).replace("\\[", "[").replace("\\]", "]")
        return f"{label} <{m.group(2)}>" if FORM_LINK.search(m.group(2)) else label

    return _LINK.sub(link, sentence)


def text_line(change: Change, *, tags: bool = False, place: bool = False, raw: bool = False) -> str:
    """One change as plain text with its marker: `+ …`, `- …`, `~ … [-old-] {+new+} …`.
    `raw` keeps a sentence's Markdown links (the commit body: the record keeps targets)."""
    if change.kind == "modified":
        body = "".join(
            text if op == EQUAL else f"[-{text}-]" if op == DELETE else f"{{+{text}+}}"
            for op, text in apart(_words(change))
        )
    else:
        body = change.text if raw else text_inline(change.text)
    if change.heading:
        body = f"heading: {body}"
    extra = []
    if place and (here := where(change)):
        extra.append(here)
    if tags and change.categories:
        extra.append(_labels(change.categories))
    suffix = f"  ({'; '.join(extra)})" if extra else ""
    return f"{SIGNS.get(change.kind, '~')} {body}{suffix}"


def render_text(changes: list[Change], events: list[Event], limit: int | None = None) -> str:
    """Plain text: `+ added`, `- removed`, `~ modified` with [-old-] {+new+} word marks,
    grouped by section, a change repeated in several sections once with where it is."""
    lines = [f"* {e.text}" for e in events]
    shown = 0
    for section, group in _sections(_shown(changes)):
        if limit is not None and shown >= limit:
            break
        lines.append(f"[{section or 'top'}]")
        for change in group:
            if limit is not None and shown >= limit:
                break
            lines.append(text_line(change, place=change.count > 1))
            shown += 1
    return "\n".join(lines)


def story_text(story: Story, links: Sequence[tuple[str, str | None]] = ()) -> str:
    """A story as plain text: summary, counts, links, events, the top changes, the rest."""
    lines = [story.summary, story.counts.line()]
    lines += [f"{label}: {url}" for label, url in links if url]
    events = [e for e in story.events if e.categories]
    if events:
        lines += ["", *(f"* {e.text}" for e in events)]
    if story.top:
        lines += ["", "Most important:"]
        lines += [text_line(c, tags=True, place=True) for c in story.top]
    if story.rest:
        lines += ["", "Also changed:"]
        for section, group in story.rest:
            lines.append(f"[{short_section(section) or 'top'}]")
            lines += [text_line(c, tags=True, place=c.count > 1) for c in group]
    quiet = [e for e in story.events if not e.categories]
    lines += [f"({e.text})" for e in quiet]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("~", "\\~").replace("*", "\\*")


def render_markdown(changes: list[Change], events: list[Event]) -> str:
    """GitHub Markdown: sections as headings, ~~removed~~ and **added** words."""
    out = [f"- {_md_escape(e.text)} ({_labels(e.categories)})" for e in events]
    if out:
        out.append("")
    for section, group in _sections(_shown(changes)):
        out.append(f"**{_md_escape(section or 'Top of the page')}**")
        out.append("")
        for change in group:
            notes = [_labels(change.categories)] if change.categories else []
            if change.count > 1:
                notes.append(where(change))
            tag = f" _({'; '.join(notes)})_" if notes else ""
            if change.kind == "added":
                out.append(f"- ➕ **{_md_escape(plain(change.new or ''))}**{tag}")
            elif change.kind == "removed":
                out.append(f"- ➖ ~~{_md_escape(plain(change.old or ''))}~~{tag}")
            else:
                parts = []
                for op, text in apart(_words(change)):
                    esc = _md_escape(text)
                    if op == EQUAL or not text.strip():
                        parts.append(esc)
                    else:
                        parts.append(
                            f"~~{esc.strip()}~~ " if op == DELETE else f"**{esc.strip()}** "
                        )
                out.append("- ✏️ " + "".join(parts).strip() + tag)
        out.append("")
    return "\n".join(out).strip() + "\n"


def html_inline(sentence: str) -> str:
    """A snapshot sentence as HTML: text escaped, its http(s) links clickable."""
    out, pos = [], 0
    for m in _LINK.finditer(sentence):
        out.append(html.escape(sentence[pos : m.start()]))
        label = m.group(1).replace("\\[", "[").replace("\\]", "]")
        url = m.group(2).replace("%29", ")")
        if url.startswith(("http://", "https://")):
            out.append(f'<a href="{html.escape(url)}">{html.escape(label)}</a>')
        else:
            out.append(html.escape(label))
        pos = m.end()
    out.append(html.escape(sentence[pos:]))
    return "".join(out)


def _links_of(sentence: str) -> str:
    """The links of a sentence as anchors (after a word diff, which shows readable text)."""
    anchors = [
        f'<a href="{html.escape(m.group(2))}">{html.escape(plain(m.group(0)))}</a>'
        for m in _LINK.finditer(sentence)
        if m.group(2).startswith(("http://", "https://"))
    ]
    return f' <span style="font-size:12px">(links: {", ".join(anchors)})</span>' if anchors else ""


def html_change(change: Change, *, place: bool = False) -> str:
    """One change as an HTML list item (inline styles: email clients drop <style>)."""
    e = html.escape
    notes = [_labels(change.categories)] if change.categories else []
    if place and (here := where(change)):
        notes.append(here)
    tag = (
        f' <span style="color:#57606a;font-size:12px">[{e("; ".join(notes))}]</span>'
        if notes
        else ""
    )
    sign = f'<span style="color:#57606a">{e(SIGNS.get(change.kind, "~"))}</span> '
    if change.kind == "added":
        body = f'<ins style="{INS_STYLE}">{html_inline(change.new or "")}</ins>'
    elif change.kind == "removed":
        body = f'<del style="{DEL_STYLE}">{html_inline(change.old or "")}</del>'
    else:
        body = "".join(
            e(text)
            if op == EQUAL
            else f'<del style="{DEL_STYLE}">{e(text)}</del>'
            if op == DELETE
            else f'<ins style="{INS_STYLE}">{e(text)}</ins>'
            for op, text in apart(_words(change))
        )
        body += _links_of(change.new or "")
    if change.heading:
        body = f"<em>heading:</em> {body}"
    return f'<li style="margin:4px 0;line-height:1.45">{sign}{body}{tag}</li>'


def _html_events(events: list[Event]) -> str:
    e = html.escape
    if not events:
        return ""
    items = "".join(
        f"<li><strong>{e(ev.text)}</strong>"
        + (f" <em>({e(_labels(ev.categories))})</em>" if ev.categories else "")
        + "</li>"
        for ev in events
    )
    return f"<ul>{items}</ul>"


def render_html(changes: list[Change], events: list[Event]) -> str:
    """HTML with inline styles (email clients drop <style>); every page string escaped."""
    e = html.escape
    out: list[str] = []
    if events:
        out.append(_html_events(events))
    for section, group in _sections(_shown(changes)):
        out.append(
            f'<h3 style="font-size:15px;margin:16px 0 6px;color:#57606a">'
            f"{e(section or 'Top of the page')}</h3>"
        )
        out.append('<ul style="margin:0;padding-left:20px;list-style:none">')
        out += [html_change(c, place=c.count > 1) for c in group]
        out.append("</ul>")
    return "\n".join(out)


def story_html(story: Story, links: Sequence[tuple[str, str | None]] = ()) -> str:
    """A story as HTML: summary, counts and links first, then the top changes, the rest."""
    e = html.escape
    head = [
        f'<p style="font-size:15px;margin:0 0 6px"><strong>{e(story.summary)}</strong></p>',
        f'<p style="margin:0 0 6px;color:#57606a">{e(story.counts.line())}</p>',
    ]
    anchors = " · ".join(f'<a href="{e(url)}">{e(label)}</a>' for label, url in links if url)
    if anchors:
        head.append(f'<p style="margin:0 0 10px">{anchors}</p>')
    out = head
    events = [ev for ev in story.events if ev.categories]
    if events:
        out.append(_html_events(events))
    if story.top:
        out.append('<h3 style="font-size:15px;margin:14px 0 6px">Most important</h3>')
        out.append('<ul style="margin:0;padding-left:20px;list-style:none">')
        out += [html_change(c, place=True) for c in story.top]
        out.append("</ul>")
    if story.rest:
        out.append('<h3 style="font-size:15px;margin:14px 0 6px">Also changed</h3>')
        rest = [c for _, group in story.rest for c in group]
        out.append(render_html(rest, []))
    quiet = [ev for ev in story.events if not ev.categories]
    if quiet:
        out.append(
            '<p style="color:#57606a;font-size:12px">'
            + "<br>".join(e(ev.text) for ev in quiet)
            + "</p>"
        )
    return "\n".join(out)


__all__ = [
    "INSERT",
    "apart",
    "html_change",
    "html_inline",
    "render_html",
    "render_markdown",
    "render_text",
    "story_html",
    "story_text",
    "text_line",
]
