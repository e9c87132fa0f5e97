"""Extract + normalize one real page, in a fresh process: median milliseconds per stage.

As tests/test_extract_normalize.py does it, with the shipped `facebook-privacy-policy` rules:
`Document.from_content` (parse), `extract_sections`, `render_markdown`. `verify_page` (the
wall, length and region checks that `watcher run` does on every page before extracting) is
timed separately: it is not part of the extract+normalize target, but it is part of a run.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pages import MICRO_PAGE, POLICY_TARGET, ROOT, fixture_text

from watcher.config import load_config
from watcher.extract import extract_sections
from watcher.normalize import render_markdown
from watcher.page import Document
from watcher.verify import verify_page


def bench(name: str, iterations: int, warmup: int = 3) -> dict[str, object]:
    target = load_config(ROOT / "targets.yaml").target(POLICY_TARGET)
    content = fixture_text(name)
    stages: dict[str, list[float]] = {
        "parse": [],
        "extract": [],
        "render": [],
        "total": [],
        "verify": [],
    }
    for i in range(warmup + iterations):
        t0 = time.perf_counter()
        doc = Document.from_content(content, target.link_base, target.link_base, name=name)
        t1 = time.perf_counter()
        extraction = extract_sections(doc, target.extract)
        t2 = time.perf_counter()
        text = render_markdown(extraction, target.link_base)
        t3 = time.perf_counter()
        verify_page(doc, target, "eu")  # the archived copies are the EU variant
        t4 = time.perf_counter()
        if i < warmup:
            continue
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t3), strict=True):
            stages[key].append(value * 1000)
    return {
        "page": name,
        "bytes": len(content.encode("utf-8")),
        "iterations": iterations,
        "snapshot_lines": text.count("\n"),
        "median_ms": {k: statistics.median(v) for k, v in stages.items()},
        "min_ms": {k: min(v) for k, v in stages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--page", action="append", help=f"fixture page (default {MICRO_PAGE})")
    args = parser.parse_args()
    out = [bench(name, args.iterations) for name in (args.page or [MICRO_PAGE])]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
