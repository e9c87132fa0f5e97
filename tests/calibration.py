"""Run the calibration set (tests/data/calibration-v2.yaml: real pairs of archived versions,
labelled from the page text by a reader who did not run watcher) through the real pipeline
stages, as `watcher import` reads an archived version, and report what watcher decided.

`python tests/calibration.py` prints, per case, the expected and the observed outcome, then
precision and recall of alerts and of each category (`--json` for a machine-readable copy).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from conftest import SHIPPED, fixture_text  # noqa: E402

from watcher.classify import Event, alerting  # noqa: E402
from watcher.config import load_config  # noqa: E402
from watcher.diff import Change  # noqa: E402
from watcher.errors import WatcherError  # noqa: E402
from watcher.evidence.importer import component_of  # noqa: E402
from watcher.models import Target  # noqa: E402
from watcher.process import Observation, as_snapshot, assess, process_page  # noqa: E402

CALIBRATION = HERE / "data" / "calibration-v2.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CALIBRATION.read_text(encoding="utf-8"))["cases"]
CONFIG = load_config(SHIPPED)
ALERTING = CONFIG.alerts.categories


@dataclass
class Outcome:
    case: dict[str, Any]
    kind: str  # alert | no_alert | failure
    categories: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0
    old_text: str = ""
    new_text: str = ""


def version_text(target: Target, name: str) -> str | None:
    """An archived version as `watcher import` reads it: the target's page of the file."""
    text = fixture_text(name)
    if target.archive is not None:
        return component_of(text, target.archive.component)
    return text


def observe(target: Target, region: str, name: str) -> Observation:
    page = version_text(target, name)
    if page is None:
        raise WatcherError(f"the file holds no page for {target.id}")
    return process_page(page, "text/markdown", target.url, target, region, "version.md")


def evaluate(case: dict[str, Any]) -> Outcome:
    target = CONFIG.target(case["target"])
    try:
        old = observe(target, case["region"], case["old"])
    except WatcherError as exc:
        old = None
        old_reason = f"old side refused: {exc}"
    else:
        old_reason = ""
    try:
        new = observe(target, case["region"], case["new"])
    except WatcherError as exc:
        reason = f"{getattr(exc, 'status', 'error')}: {exc}"
        return Outcome(case, "failure", reason=reason, old_text=old.text if old else "")
    if old is None:  # nothing to compare with: a first record, never an alert
        return Outcome(case, "no_alert", reason=old_reason, new_text=new.text)
    started = time.perf_counter()
    status, reason, changes, classification = assess(as_snapshot(old), new, target, CONFIG)
    seconds = time.perf_counter() - started
    if status == "error":
        return Outcome(case, "failure", reason=reason or "", seconds=seconds, old_text=old.text)
    categories = classification.categories if classification else []
    kind = "alert" if alerting(categories, ALERTING) else "no_alert"
    return Outcome(
        case,
        kind,
        [c for c in categories if c in ALERTING],
        changes,
        classification.events if classification else [],
        str(status),
        seconds,
        old.text,
        new.text,
    )


def scores(outcomes: list[Outcome]) -> dict[str, tuple[float, float, int, int, int]]:
    """Precision and recall (with tp, fp, fn) for alerts, failures and each category.

    A category counts as expected only on an alert case; on a failure or no-alert case any
    category reported is a false positive."""
    table = {}
    for label in ["alert", "failure", *ALERTING]:
        tp = fp = fn = 0
        for o in outcomes:
            if label in ("alert", "failure"):
                expected, got = o.case["expect"] == label, o.kind == label
            else:
                expected = o.case["expect"] == "alert" and label in o.case.get("categories", [])
                got = o.kind == "alert" and label in o.categories
            tp += expected and got
            fp += got and not expected
            fn += expected and not got
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        table[label] = (precision, recall, tp, fp, fn)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    parser.add_argument("ids", nargs="*", help="only these case ids")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.ids or c["id"] in args.ids]
    outcomes = [evaluate(case) for case in cases]
    table = scores(outcomes)
    if args.json:
        print(
            json.dumps(
                {
                    "cases": [
                        {
                            "id": o.case["id"],
                            "expect": o.case["expect"],
                            "got": o.kind,
                            "categories_expected": o.case.get("categories", []),
                            "categories_got": o.categories,
                            "changes": len(o.changes),
                            "reason": o.reason,
                        }
                        for o in outcomes
                    ],
                    "scores": {
                        k: dict(zip(("precision", "recall", "tp", "fp", "fn"), v, strict=True))
                        for k, v in table.items()
                    },
                },
                indent=2,
            )
        )
        return 0
    print("| case | expected | got | categories expected | categories got | changes |")
    print("|---|---|---|---|---|---|")
    wrong = 0
    for o in outcomes:
        ok = o.kind == o.case["expect"] and (
            o.kind != "alert" or o.categories == o.case.get("categories", [])
        )
        wrong += not ok
        print(
            f"| {'' if ok else '✗ '}{o.case['id']} | {o.case['expect']} | {o.kind} | "
            f"{', '.join(o.case.get('categories', [])) or '-'} | "
            f"{', '.join(o.categories) or '-'} | {len(o.changes)} |"
        )
    print("\n| label | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|")
    for label, (p, r, tp, fp, fn) in table.items():
        print(f"| {label} | {p:.2f} | {r:.2f} | {tp} | {fp} | {fn} |")
    print(f"\n{len(outcomes) - wrong} of {len(outcomes)} cases as labelled")
    if outcomes:
        largest = max(outcomes, key=lambda o: len(o.changes))
        print(
            f"largest pair: {largest.case['id']}: {len(largest.changes)} changed sentences, "
            f"diff + classify {largest.seconds * 1000:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
