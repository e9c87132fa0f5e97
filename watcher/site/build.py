"""Build the evidence site: static HTML and CSS from the snapshots and their git history.

The same repository always gives the same bytes: nothing depends on the clock, the
machine or the order of a directory listing. Every link is relative and names a file
(`change/abc.html`, never `change/`), so the site works from `file://` and under a
GitHub Pages sub-path alike. Templates are Jinja2 with autoescaping on: page text, commit
messages and capture records are always escaped.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..classify import plain
from ..errors import UsageError
from ..evidence.commits import counts_line
from ..evidence.feed import feed_path
from ..evidence.history import RegionComparison, compare_regions
from ..evidence.store import SnapshotStore
from ..models import CATEGORIES, Config, Region, SnapshotMeta, category_labels
from ..render import render_html
from .answers import QUESTIONS, Answer, Question, Reading, read_text
from .reader import Evidence, Record, read_evidence

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
MARKER = ".watcher-site"  # names a folder this command made, and may empty again
SHA = 12  # characters of a commit id in page names


@dataclass(frozen=True)
class Service:
    """A watched page (a target), with the regions it is watched in."""

    id: str
    name: str
    url: str
    regions: tuple[str, ...]


@dataclass
class Cell:
    """One service in one region: its current text, read, and its history."""

    service: Service
    region: Region
    meta: SnapshotMeta | None = None
    reading: Reading | None = None
    records: list[Record] = field(default_factory=list)  # newest first

    @property
    def id(self) -> str:
        return f"{self.service.id}-{self.region.code}"

    @property
    def watched(self) -> bool:
        return self.region.code in self.service.regions

    @property
    def text_page(self) -> str:
        return f"text/{self.service.id}/{self.region.code}.html"

    def last_change(self, question: Question) -> Record | None:
        """The newest recorded change whose categories include the question's."""
        for record in self.records:
            if not record.first and question.category in record.entry.categories:
                return record
        return None

    @property
    def first_record(self) -> Record | None:
        return self.records[-1] if self.records else None


@dataclass
class BuildReport:
    out: Path
    pages: int
    files: int
    bytes: int
    changes: int
    seconds: float


def change_page(record: Record) -> str:
    return f"change/{record.sha[:SHA]}.html"


def _web(url: str | None) -> str:
    """A link target only when it is a web address (a snapshot's metadata or a commit's
    trailer could hold anything, `javascript:` included)."""
    return url if url and url.startswith(("https://", "http://")) else ""


def _services(config: Config, store_root: Path) -> list[Service]:
    """The config's targets in their order, then snapshot folders it does not name."""
    services = [Service(t.id, t.name, t.link_base, t.regions) for t in config.targets]
    known = {s.id for s in services}
    store = SnapshotStore(store_root)
    if store_root.is_dir():
        for folder in sorted(p for p in store_root.iterdir() if p.is_dir()):
            if folder.name in known or folder.name.startswith(".") or folder.name == "feeds":
                continue
            regions = tuple(sorted(p.stem for p in folder.glob("*.md")))
            if not regions:
                continue
            snap = store.read(folder.name, regions[0])
            meta = snap.meta if snap else SnapshotMeta()
            services.append(Service(folder.name, meta.name or folder.name, _web(meta.url), regions))
    return services


def _regions(config: Config, services: list[Service]) -> list[Region]:
    regions = list(config.regions.values())
    codes = {r.code for r in regions}
    extra = sorted({c for s in services for c in s.regions if c not in codes})
    return regions + [Region(code, code.upper()) for code in extra]


def _fmt_date(value: datetime | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def _fmt_time(value: datetime | None) -> str:
    return f"{value.day} {value:%B %Y}, {value:%H:%M} UTC" if value else ""


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _labels(categories: Iterable[str]) -> list[str]:
    return category_labels([c for c in CATEGORIES if c in set(categories)])


class Site:
    """Everything the pages show, computed once, and the pages rendered from it."""

    def __init__(
        self,
        config: Config,
        snapshots: Path,
        evidence: Evidence,
        base_url: str | None = None,
        repo_url: str | None = None,
    ):
        self.config = config
        self.snapshots = snapshots
        self.evidence = evidence
        self.base_url = base_url.rstrip("/") + "/" if base_url else None
        self.repo_url = repo_url.rstrip("/") if repo_url else None
        self.services = _services(config, snapshots)
        self.regions = _regions(config, self.services)
        self.region_by_code = {r.code: r for r in self.regions}
        self.service_by_id = {s.id: s for s in self.services}
        store = SnapshotStore(snapshots)
        self.cells: dict[tuple[str, str], Cell] = {}
        for service in self.services:
            for region in self.regions:
                cell = Cell(service, region)
                snap = store.read(service.id, region.code) if cell.watched else None
                if snap is not None:
                    cell.meta = snap.meta
                    cell.reading = read_text(snap.text, config.categories)
                self.cells[(service.id, region.code)] = cell
        self.records = [
            r
            for r in evidence.records
            if r.entry.target in self.service_by_id and r.entry.region in self.region_by_code
        ]
        for record in self.records:
            self.cells[(record.entry.target, record.entry.region)].records.append(record)
        self.feeds = [
            (r, feed_path(snapshots, r.code))
            for r in self.regions
            if feed_path(snapshots, r.code).is_file()
        ]
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(date=_fmt_date, datetime=_fmt_time, iso=_iso, labels=_labels)
        self.env.globals.update(plain=plain)

    # --- links -------------------------------------------------------------------------

    def commit_url(self, sha: str) -> str | None:
        return f"{self.repo_url}/commit/{sha}" if self.repo_url else None

    def file_url(self, sha: str, path: str) -> str | None:
        return f"{self.repo_url}/blob/{sha}/{path}" if self.repo_url else None

    def source_url(self, record: Record) -> str:
        """The page's public address: the config's, else the one the commit names."""
        configured = {t.id: t for t in self.config.targets}.get(record.entry.target)
        if configured is not None:
            return _web(configured.link_base)
        service = self.service_by_id.get(record.entry.target)
        return _web(record.entry.source_url) or (service.url if service else "")

    # --- pages -------------------------------------------------------------------------

    def render(self, template: str, path: str, **context: Any) -> tuple[str, bytes]:
        depth = path.count("/")
        root = "../" * depth

        def link(target: str) -> str:
            return root + target

        page = self.env.get_template(template).render(
            site=self,
            root=root,
            link=link,
            path=path,
            canonical=f"{self.base_url}{path}" if self.base_url else None,
            questions=QUESTIONS,
            change_page=change_page,
            **context,
        )
        return path, page.encode("utf-8")

    def pages(self) -> Iterable[tuple[str, bytes]]:
        yield self.render("index.html", "index.html")
        yield self.render(
            "timeline.html",
            "changes.html",
            title="Every recorded change",
            records=self.records,
            scope=None,
        )
        for service in self.services:
            cells = [self.cells[(service.id, r.code)] for r in self.regions]
            yield self.render(
                "service.html",
                f"service/{service.id}.html",
                service=service,
                cells=cells,
                records=[r for r in self.records if r.entry.target == service.id],
            )
            comparisons = self.comparisons(service)
            if comparisons:
                yield self.render(
                    "compare.html",
                    f"compare/{service.id}.html",
                    service=service,
                    comparisons=comparisons,
                    cells=[c for c in cells if c.reading is not None],
                )
        for region in self.regions:
            yield self.render(
                "region.html",
                f"region/{region.code}.html",
                region=region,
                cells=[self.cells[(s.id, region.code)] for s in self.services],
                records=[r for r in self.records if r.entry.region == region.code],
                feed=any(r.code == region.code for r, _ in self.feeds),
            )
        for cell in self.cells.values():
            if cell.reading is not None:
                yield self.render("text.html", cell.text_page, cell=cell)
        for cell in self.cells.values():
            for i, record in enumerate(cell.records):
                newer = cell.records[i - 1] if i > 0 else None
                older = cell.records[i + 1] if i + 1 < len(cell.records) else None
                yield self.render(
                    "change.html",
                    change_page(record),
                    record=record,
                    cell=cell,
                    newer=newer,
                    older=older,
                    **self.change_context(record),
                )
        yield self.render("about.html", "about.html")

    def change_context(self, record: Record) -> dict[str, Any]:
        # trailers shown elsewhere on the page; the rest (an archive's) are listed as they are
        shown = {"Source-URL", "Watcher-Target", "Watcher-Region", "Watcher-Categories"}
        shown |= {"Watcher-Kind", "Watcher-Version"}
        context: dict[str, Any] = {
            "headline": headline(record.entry.summary),
            "source": self.source_url(record),
            "extra_trailers": sorted((k, v) for k, v in record.trailers.items() if k not in shown),
            "archive_url": _archive_url(record.trailers),
            "capture_facts": _facts(record.capture.record) if record.capture else [],
            "diff_html": None,
            "counts": "",
            "sections": [],
            "first_text": None,
        }
        if record.diff is None:
            context["first_text"] = read_text(record.new, self.config.categories)
            return context
        changes = record.diff.changes
        # render_html escapes every string that comes from a page; the template marks it safe
        context["diff_html"] = render_html(changes, record.diff.classification.events)
        context["counts"] = counts_line(changes)
        sections = [_section(c.section) for c in changes if not c.heading]
        context["sections"] = list(dict.fromkeys(sections))
        return context

    def comparisons(self, service: Service) -> list[RegionComparison]:
        have = [r.code for r in self.regions if self.cells[(service.id, r.code)].reading]
        return [compare_regions(self.snapshots, service.id, a, b) for a, b in combinations(have, 2)]

    def recorded(self, service: Service) -> bool:
        """Whether any region of the service has a text yet."""
        return any(self.cells[(service.id, r.code)].reading for r in self.regions)

    def answers(self, cell: Cell) -> list[Answer]:
        return [cell.reading.answers[q] for q in QUESTIONS] if cell.reading else []


_TITLED = re.compile(r"^.+? \([^()]*\): (.+)$")


def headline(summary: str) -> str:
    """A commit subject without the page and region it starts with (the page shows them
    above it): "Meta Privacy Policy (EU): opt-out wording changed" -> "Opt-out wording
    changed"; "First record of Meta Privacy Policy (EU)" -> "First record"."""
    if summary.startswith("First record of "):
        return "First record"
    m = _TITLED.match(summary)
    rest = m.group(1) if m else summary
    return rest[:1].upper() + rest[1:]


def _section(path: str, limit: int = 90) -> str:
    """A changed sentence's section as a short name: its own heading, shortened."""
    name = plain(path).split(" › ")[-1] or "Top of the page"
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


def _archive_url(trailers: dict[str, str]) -> str:
    """The archived version's commit on GitHub, when the archive is named `owner/repo`
    (as Open Terms Archive's collections are)."""
    archive, commit = trailers.get("Archive", ""), trailers.get("Archive-Commit", "")
    if _REPO.match(archive) and re.fullmatch(r"[0-9a-f]{7,40}", commit):
        return f"https://github.com/{archive}/commit/{commit}"
    return ""


def _facts(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A capture record's fields as (name, value) lines, nested ones flattened."""
    facts: list[tuple[str, str]] = []
    for key in sorted(record):
        value = record[key]
        if isinstance(value, dict):
            facts += [
                (f"{key}.{k}", str(v)) for k, v in sorted(value.items()) if v not in ("", None)
            ]
        elif value not in ("", None, [], {}):
            facts.append((key.replace("_", " "), str(value)))
    return facts


def _prepare(out: Path) -> None:
    """An empty output folder: a new one, an empty one, or one this command made before."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(
                f"--out {out} is not empty and was not made by `watcher site`; "
                "name a new or empty folder"
            )
        for child in sorted(out.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def build_site(
    config: Config,
    snapshots: str | Path,
    out: str | Path,
    *,
    base_url: str | None = None,
    repo_url: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Write the whole site into `out` (emptied first if an earlier build made it)."""
    started = time.perf_counter()
    snapshots, out = Path(snapshots), Path(out)
    evidence = read_evidence(config, snapshots)
    site = Site(config, snapshots, evidence, base_url, repo_url)
    files: dict[str, bytes] = dict(site.pages())
    files["style.css"] = (STATIC / "style.css").read_bytes()
    for region, path in site.feeds:
        files[f"feeds/{region.code}.xml"] = path.read_bytes()
    files[MARKER] = b"Built by `watcher site`; the next build empties this folder first.\n"
    _prepare(out)
    for rel in sorted(files):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel])
    if progress:
        progress(f"wrote {len(files)} files to {out}")
    return BuildReport(
        out=out,
        pages=sum(1 for rel in files if rel.endswith(".html")),
        files=len(files),
        bytes=sum(len(data) for data in files.values()),
        changes=sum(1 for r in site.records if not r.first),
        seconds=time.perf_counter() - started,
    )
