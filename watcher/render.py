"""Render changes for people: Markdown (commits, GitHub), HTML (email, feed), plain text (push).

Page content is always escaped: a page that carries `<script>` or `<img onerror>` is shown
as text. A modified sentence shows its word diff on the readable text (link targets hidden),
unless only a link target changed, then on the raw sentence so the new address shows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from .classify import Event, plain
from .diff import DELETE, EQUAL, INSERT, Change, word_diff
from .models import category_labels

DEL_STYLE = "background:#ffebe9;color:#82071e;text-decoration:line-through"
INS_STYLE = "background:#dafbe1;color:#116329;text-decoration:none;font-weight:600"


def _words(change: Change) -> list[tuple[int, str]]:
    old, new = plain(change.old or ""), plain(change.new or "")
    if old == new:  # only a link target moved: show it
        old, new = change.old or "", change.new or ""
    return word_diff(old, new)


def _sections(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    groups: list[tuple[str, list[Change]]] = []
    for change in changes:
        section = plain(change.section)
        if groups and groups[-1][0] == section:
            groups[-1][1].append(change)
        else:
            groups.append((section, [change]))
    return groups


def _labels(categories: list[str]) -> str:
    return ", ".join(category_labels(categories))


def _is_heading(change: Change) -> bool:
    return change.heading


def render_text(changes: list[Change], events: list[Event], limit: int | None = None) -> str:
    """Plain text: `+ added`, `- removed`, `~ modified` with [-old-]{+new+} word marks."""
    lines = [f"* {e.text}" for e in events]
    shown = 0
    for section, group in _sections(c for c in changes if not _is_heading(c)):
        if limit is not None and shown >= limit:
            break
        lines.append(f"[{section or 'top'}]")
        for change in group:
            if limit is not None and shown >= limit:
                break
            if change.kind == "added":
                lines.append(f"+ {plain(change.new or '')}")
            elif change.kind == "removed":
                lines.append(f"- {plain(change.old or '')}")
            else:
                parts = []
                for op, text in _words(change):
                    parts.append(
                        text if op == EQUAL else f"[-{text}-]" if op == DELETE else f"{{+{text}+}}"
                    )
                lines.append("~ " + "".join(parts))
            shown += 1
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("~", "\\~").replace("*", "\\*")


def render_markdown(changes: list[Change], events: list[Event]) -> str:
    """GitHub Markdown: sections as headings, ~~removed~~ and **added** words."""
    out = [f"- {_md_escape(e.text)} ({_labels(e.categories)})" for e in events]
    if out:
        out.append("")
    for section, group in _sections(c for c in changes if not _is_heading(c)):
        out.append(f"**{_md_escape(section or 'Top of the page')}**")
        out.append("")
        for change in group:
            tag = f" _({_labels(change.categories)})_" if change.categories else ""
            if change.kind == "added":
                out.append(f"- ➕ **{_md_escape(plain(change.new or ''))}**{tag}")
            elif change.kind == "removed":
                out.append(f"- ➖ ~~{_md_escape(plain(change.old or ''))}~~{tag}")
            else:
                parts = []
                for op, text in _words(change):
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


def render_html(changes: list[Change], events: list[Event]) -> str:
    """HTML with inline styles (email clients drop <style>); every page string escaped."""
    e = html.escape
    out: list[str] = []
    if events:
        out.append(
            "<ul>"
            + "".join(
                f"<li><strong>{e(ev.text)}</strong> <em>({e(_labels(ev.categories))})</em></li>"
                for ev in events
            )
            + "</ul>"
        )
    for section, group in _sections(c for c in changes if not _is_heading(c)):
        out.append(
            f'<h3 style="font-size:15px;margin:16px 0 6px;color:#57606a">'
            f"{e(section or 'Top of the page')}</h3>"
        )
        out.append('<ul style="margin:0;padding-left:20px">')
        for change in group:
            tag = (
                (
                    f' <span style="color:#57606a;font-size:12px">[{e(_labels(change.categories))}]'
                    "</span>"
                )
                if change.categories
                else ""
            )
            if change.kind == "added":
                body = f'<ins style="{INS_STYLE}">{e(plain(change.new or ""))}</ins>'
            elif change.kind == "removed":
                body = f'<del style="{DEL_STYLE}">{e(plain(change.old or ""))}</del>'
            else:
                body = "".join(
                    e(text)
                    if op == EQUAL
                    else f'<del style="{DEL_STYLE}">{e(text)}</del>'
                    if op == DELETE
                    else f'<ins style="{INS_STYLE}">{e(text)}</ins>'
                    for op, text in _words(change)
                )
            out.append(f'<li style="margin:4px 0;line-height:1.45">{body}{tag}</li>')
        out.append("</ul>")
    return "\n".join(out)


__all__ = ["INSERT", "render_html", "render_markdown", "render_text"]
