"""Run the calibration set (tests/data/calibration.yaml) through the real pipeline stages and
report, per case, what watcher decided; with `python tests/calibration.py`, also precision
and recall of alerts and of each category, and the time to diff and classify the largest pair.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from conftest import PRINTABLE, SHIPPED, fixture_text  # noqa: E402

from watcher.classify import alerting  # noqa: E402
from watcher.config import load_config  # noqa: E402
from watcher.diff import Change  # noqa: E402
from watcher.errors import WatcherError  # noqa: E402
from watcher.process import as_snapshot, assess, process_page  # noqa: E402

CASES = yaml.safe_load((HERE / "data" / "calibration.yaml").read_text())["cases"]
CONFIG = load_config(SHIPPED)
ALERTING = CONFIG.alerts.categories


@dataclass
class Outcome:
    case: dict
    kind: str  # alert | no_alert | failure
    categories: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    events: list = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0


def evaluate(case: dict) -> Outcome:
    target = CONFIG.target(case["target"])

    def observe(name: str):
        return process_page(fixture_text(name), None, PRINTABLE, target, case["region"], name)

    old = observe(case["old"])
    snapshot = as_snapshot(old)
    try:
        new = observe(case["new"])
    except WatcherError as exc:
        return Outcome(case, "failure", reason=f"{getattr(exc, 'status', 'error')}: {exc}")
    started = time.perf_counter()
    status, reason, changes, classification = assess(snapshot, new, target, CONFIG)
    seconds = time.perf_counter() - started
    if status == "error":
        return Outcome(case, "failure", reason=reason or "", seconds=seconds)
    categories = classification.categories if classification else []
    kind = "alert" if alerting(categories, ALERTING) else "no_alert"
    return Outcome(
        case,
        kind,
        [c for c in categories if c in ALERTING],
        changes,
        classification.events if classification else [],
        status,
        seconds,
    )


def scores(outcomes: list[Outcome]) -> dict[str, tuple[float, float, int, int, int]]:
    """Precision and recall (with tp, fp, fn) for alerts and for each alerting category."""
    table = {}
    labels = ["alert", *ALERTING]
    for label in labels:
        tp = fp = fn = 0
        for o in outcomes:
            expected = (
                o.case["expect"] == "alert"
                if label == "alert"
                else label in o.case.get("categories", [])
            )
            got = o.kind == "alert" if label == "alert" else label in o.categories
            tp += expected and got
            fp += got and not expected
            fn += expected and not got
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        table[label] = (precision, recall, tp, fp, fn)
    return table


def main() -> None:
    outcomes = [evaluate(case) for case in CASES]
    print("| case | expected | got | categories expected | categories got |")
    print("|---|---|---|---|---|")
    for o in outcomes:
        print(
            f"| {o.case['id']} | {o.case['expect']} | {o.kind} | "
            f"{', '.join(o.case.get('categories', [])) or '-'} | "
            f"{', '.join(o.categories) or '-'} |"
        )
    print("\n| label | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|")
    for label, (p, r, tp, fp, fn) in scores(outcomes).items():
        print(f"| {label} | {p:.2f} | {r:.2f} | {tp} | {fp} | {fn} |")
    largest = max(outcomes, key=lambda o: len(o.changes))
    print(
        f"\nlargest pair: {largest.case['id']}: {len(largest.changes)} changed sentences, "
        f"diff + classify {largest.seconds * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
