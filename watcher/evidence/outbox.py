"""Committed run state, one file per region: the alert outbox and failure streaks.

`snapshots/.watcher/<region>.json` lives in git beside the evidence, so an alert written
to the outbox in the same commit as its change survives a killed run or a fresh CI
workspace, and is delivered by the next run. One file per region, because region jobs
commit in parallel and must not conflict when they rebase.

This module owns the file and the streak rules; composing an alert's words is
`alerts.py`, and sending it is `notify.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import Alert, Result, Status, Streak
from .store import atomic_write


def outbox_path(snapshots: str | Path, region: str) -> Path:
    return Path(snapshots) / ".watcher" / f"{region}.json"


@dataclass
class Outbox:
    path: Path
    alerts: list[Alert] = field(default_factory=list)
    failures: dict[str, Streak] = field(default_factory=dict)
    _saved: str = ""

    @classmethod
    def load(cls, snapshots: str | Path, region: str) -> Outbox:
        path = outbox_path(snapshots, region)
        if not path.exists():
            return cls(path)
        return cls.parse(path, path.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, path: Path, text: str) -> Outbox:
        data: dict[str, Any] = json.loads(text) if text.strip() else {}
        return cls(
            path,
            [Alert.from_json(a) for a in data.get("outbox", [])],
            {k: Streak.from_json(v) for k, v in dict(data.get("failures", {})).items()},
            _saved=text,
        )

    def dump(self) -> str:
        data = {
            "outbox": [a.to_json() for a in self.alerts],
            "failures": {k: v.to_json() for k, v in sorted(self.failures.items())},
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @property
    def dirty(self) -> bool:
        return self.dump() != self._saved

    def mark_saved(self) -> None:
        """The file on disk (or in the commit being made) holds what `dump` gives now."""
        self._saved = self.dump()

    def save(self) -> bool:
        """Write the file when its content changed; True when it did."""
        text = self.dump()
        if text == self._saved:
            return False
        atomic_write(self.path, text)
        self._saved = text
        return True

    def drop(self) -> int:
        """Discard every waiting alert; how many there were."""
        dropped = len(self.alerts)
        self.alerts.clear()
        return dropped


AlertFactory = Callable[[Result, Streak], Alert]


def track_failures(
    outboxes: Callable[[str], Outbox],
    results: list[Result],
    threshold: int,
    failure_alert: AlertFactory,
    recovery_alert: AlertFactory,
) -> list[str]:
    """Count failing runs per (target, region): one alert at the threshold, one on recovery.

    The count stops at the threshold, so a page that stays broken changes nothing and
    commits nothing run after run. Skipped pages and watcher's own bugs (`internal`) are
    not page failures and never count. Returns the regions whose state changed.
    """
    touched: set[str] = set()
    for result in results:
        if result.status == Status.SKIPPED or result.internal:
            continue
        box = outboxes(result.region)
        streak = box.failures.get(result.target)
        if result.status.failed:
            streak = streak or Streak()
            if not streak.alerted:
                streak.count += 1
                streak.status, streak.reason = result.status, result.error or ""
                if streak.count >= threshold:
                    streak.alerted = True
                    box.alerts.append(failure_alert(result, streak))
            box.failures[result.target] = streak
            touched.add(result.region)
        elif streak is not None:
            if streak.alerted:
                box.alerts.append(recovery_alert(result, streak))
            del box.failures[result.target]
            touched.add(result.region)
    return sorted(touched)
