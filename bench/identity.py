"""Fingerprint every snapshot watcher makes from the pages it has, to prove a change to the
per-page path gives byte-identical output.

    python bench/identity.py --out before.json [--history DIR]   # on the old code
    python bench/identity.py --out after.json  [--history DIR]   # on the new code
    python bench/identity.py --compare before.json after.json

Sources:
- every page under tests/fixtures/ota (gzip-compressed Markdown versions and raw HTML),
  read as it is and, for Markdown, also served as HTML inside `<div id="root">` as the
  tests and the benchmark serve it (`tests/conftest.py: page_html`);
- every archived version of every file that a target of targets.yaml imports, in the Open
  Terms Archive versions repositories under `--history` (clones of the bundles in
  /work/shared/history), read as `watcher import` reads it (`archive_versions`, then the
  target's page of a combined file, `component_of`).

Each source is read with every target it could belong to: every target for a fixture
page, the targets that name the archived file for a version. Per (source, target) the
record holds the snapshot text's sha256 from `process_document(doc, target, None)` (no
verification, so nothing is skipped), its sentence count, page length and `matched`
metadata (the snapshot's .json), and, for each of the target's regions, what `process_page`
(the path `watcher run` and `watcher import` take: completeness, verification, extraction,
normalization) gives: the text's sha256 or the error's kind and message. The output maps
each (source, target) to one sha256 of its record; `--detail` also keeps the records.

Which watcher is measured is whichever `import watcher` finds (set PYTHONPATH); targets.yaml
and the fixtures come from `--root` (default: the folder above that watcher package).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

Job = tuple[str, str, str, str, str]  # key, target id, content, content type, name


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _wrapped(text: str) -> str:
    """A Markdown version served as HTML, as tests/conftest.py's page_html does."""
    from watcher.page import markdown_to_html

    body = markdown_to_html(text).removeprefix("<html><body>").removesuffix("</body></html>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Meta Privacy Policy'
        f'</title></head><body><div id="root">{body}</div></body></html>'
    )


def fixture_jobs(root: Path, targets: list[Any]) -> Iterator[Job]:
    from watcher.evidence.importer import SEPARATOR, component_of

    ota = root / "tests" / "fixtures" / "ota"
    for path in sorted(ota.rglob("*.gz")):
        name = str(path.relative_to(ota)).removesuffix(".gz")
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        markdown = name.endswith(".md")
        ctype = "text/markdown" if markdown else "text/html; charset=utf-8"
        forms = [("raw", text, ctype, Path(name).name)]
        if markdown:
            forms.append(("root", _wrapped(text), "text/html; charset=utf-8", "page.html"))
        for target in targets:
            for form, content, kind, base in forms:
                yield (f"fixture:{name}|{form}|{target.id}", target.id, content, kind, base)
            component = target.archive.component if target.archive else None
            if (
                markdown
                and component
                and any(line.strip() == SEPARATOR for line in text.splitlines())
            ):
                part = component_of(text, component)
                if part is not None:
                    key = f"fixture:{name}|component|{target.id}"
                    yield (key, target.id, part, "text/markdown", "version.md")


def archive_jobs(history: Path, targets: list[Any]) -> Iterator[Job]:
    from watcher.evidence.importer import archive_versions, component_of

    for repo in sorted(p for p in history.iterdir() if (p / ".git").exists()):
        by_path: dict[str, list[Any]] = {}
        for target in targets:
            if target.archive is not None:
                by_path.setdefault(target.archive.path, []).append(target)
        for path, wanted in sorted(by_path.items()):
            if not (repo / path).exists():
                continue
            for version in archive_versions(repo, path):
                for target in wanted:
                    component = target.archive.component
                    page = component_of(version.text, component)
                    if page is None:
                        continue
                    key = f"archive:{repo.name}:{path}@{version.commit[:12]}|{target.id}"
                    yield (key, target.id, page, "text/markdown", "version.md")


_CONFIG: Any = None


def _init(root: str) -> None:
    global _CONFIG
    from watcher.config import load_config

    _CONFIG = load_config(Path(root) / "targets.yaml")


def record(job: Job) -> tuple[str, dict[str, Any]]:
    from watcher.errors import WatcherError
    from watcher.page import Document
    from watcher.process import process_document, process_page

    key, target_id, content, ctype, name = job
    target = _CONFIG.target(target_id)
    out: dict[str, Any] = {}
    try:
        doc = Document.from_content(content, target.url, target.link_base, ctype, name)
        out["page_chars"] = len(doc.text)
        obs = process_document(doc, target, None)
        out.update(text=_sha(obs.text), sentences=obs.sentences, matched=obs.matched)
    except WatcherError as exc:
        out["error"] = _error(exc)
    verified: dict[str, Any] = {}
    for region in target.regions:
        try:
            obs = process_page(content, ctype, target.url, target, region, name)
            verified[region] = {
                "text": _sha(obs.text),
                "sentences": obs.sentences,
                "page_chars": obs.page_chars,
                "matched": obs.matched,
            }
        except WatcherError as exc:
            verified[region] = {"error": _error(exc)}
    out["regions"] = verified
    return key, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="write the fingerprints here (JSON)")
    parser.add_argument("--root", help="where targets.yaml and tests/fixtures are")
    parser.add_argument("--history", help="a folder of clones of the archive bundles")
    parser.add_argument("--detail", action="store_true", help="keep each record too")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if not args.out:
        parser.error("--out is required")

    import watcher
    from watcher.config import load_config

    root = Path(args.root or Path(watcher.__file__).resolve().parent.parent)
    targets = load_config(root / "targets.yaml").targets
    jobs: list[Job] = list(fixture_jobs(root, targets))
    if args.history:
        jobs += archive_jobs(Path(args.history), targets)
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(str(root),)) as pool:
        records = dict(pool.map(record, jobs, chunksize=8))
    digests = {
        key: hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()
        for key, rec in sorted(records.items())
    }
    data: dict[str, Any] = {
        "watcher": str(Path(watcher.__file__).resolve().parent),
        "root": str(root),
        "count": len(digests),
        "seconds": round(time.perf_counter() - started, 1),
        "fingerprints": digests,
    }
    if args.detail:
        data["records"] = dict(sorted(records.items()))
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    texts = sum(1 + len(r["regions"]) for r in records.values())
    print(
        f"{len(digests)} (source, target) pairs, {texts} texts or outcomes, "
        f"{data['seconds']} s: {args.out}"
    )


def compare(a: str, b: str) -> int:
    left, right = (json.loads(Path(p).read_text())["fingerprints"] for p in (a, b))
    missing = sorted(set(left) ^ set(right))
    differ = sorted(k for k in set(left) & set(right) if left[k] != right[k])
    for key in missing[:20]:
        print(f"only in {'A' if key in left else 'B'}: {key}")
    for key in differ[:50]:
        print(f"differs: {key}")
    print(
        f"{len(set(left) & set(right))} compared, {len(differ)} differ, "
        f"{len(missing)} in one file only"
    )
    return 1 if differ or missing else 0


if __name__ == "__main__":
    main()
