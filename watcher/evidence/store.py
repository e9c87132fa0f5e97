"""Snapshots on disk: `snapshots/<target>/<region>.md` holds the normalized text and
`snapshots/<target>/<region>.json` its metadata (`SnapshotMeta`), which changes only when
the text does. Writes are atomic (temporary file, then rename), so a killed run never
leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..models import SnapshotMeta


@dataclass
class Snapshot:
    text: str
    meta: SnapshotMeta = field(default_factory=SnapshotMeta)

    @property
    def sentences(self) -> int:
        return self.meta.sentences


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes exactly, by a synced temporary file renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: str) -> None:
    """Write UTF-8 text exactly (no newline translation), atomically (see atomic_write_bytes)."""
    atomic_write_bytes(path, data.encode("utf-8", "surrogatepass"))


class SnapshotStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def paths(self, target: str, region: str) -> tuple[Path, Path]:
        folder = self.root / target
        return folder / f"{region}.md", folder / f"{region}.json"

    def read(self, target: str, region: str) -> Snapshot | None:
        md, meta = self.paths(target, region)
        if not md.exists():
            return None
        try:
            text = md.read_text(encoding="utf-8")
            data = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read snapshot {md}: {exc}") from None
        return Snapshot(text=text, meta=SnapshotMeta.from_json(data))

    def write(self, target: str, region: str, text: str, meta: SnapshotMeta) -> list[Path]:
        md, meta_path = self.paths(target, region)
        atomic_write(md, text)
        atomic_write(meta_path, dump_meta(meta))
        return [md, meta_path]


def dump_meta(meta: SnapshotMeta) -> str:
    """The metadata file's text: sorted keys, so it diffs cleanly."""
    return json.dumps(meta.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
