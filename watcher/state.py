"""Committed run state, one file per region: the alert outbox and failure streaks.

`snapshots/.watcher/<region>.json` lives in git beside the evidence, so an alert written
to the outbox in the same commit as its change survives a killed run or a fresh CI
workspace, and is delivered by the next run. One file per region, because region jobs
commit in parallel and must not conflict when they rebase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import atomic_write


@dataclass
class RegionState:
    path: Path
    outbox: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    _saved: str = ""

    @classmethod
    def load(cls, snapshots: str | Path, region: str) -> RegionState:
        path = Path(snapshots) / ".watcher" / f"{region}.json"
        if not path.exists():
            return cls(path)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else {}
        return cls(path, list(data.get("outbox", [])), dict(data.get("failures", {})), _saved=text)

    def dump(self) -> str:
        data = {"outbox": self.outbox, "failures": dict(sorted(self.failures.items()))}
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self) -> bool:
        """Write the file when its content changed; True when it did."""
        text = self.dump()
        if text == self._saved:
            return False
        atomic_write(self.path, text)
        self._saved = text
        return True
