"""Replay whole archived histories through `watcher import`: how noisy is watcher?

    .venv/bin/python bench/replay.py [--history /work/shared/history] [--out bench/results]

Each Open Terms Archive bundle (`*.bundle`, a git bundle of the archive's versions layout)
is cloned to a scratch folder, and each of its files is imported, for each region its
server may have been given, into a fresh git repository of its own: the same verify →
extract → normalize → compare path as a live page, the archive's dates kept. Per file the
report gives:

* the archive's recorded versions (every byte change the archive recorded);
* watcher's records: changes (and archive re-extractions recorded as upgrades);
* alerts by category: the changes whose categories include data sources, exemptions or
  opt-out, as a live run would have alerted them;
* flips among the alerts: a change whose text returns to one recorded before, or that such
  a return undoes (A → B → A: both alerts are noise, whatever B said), as an upper bound
  of noise, and flip alerts per page per year;
* failures by kind: captures refused (title-only pages, error pages, walls, another
  region's variant, collapsed or bloated captures);
* time per version.

The table is written to `<out>/replay.md` (and `replay.json`); the README quotes it.
Nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.config import load_config  # noqa: E402
from watcher.evidence.importer import import_archive  # noqa: E402

ALERTING = ("data_sources", "exemptions", "opt_out")
# (bundle, archive file, target, region): the region each server's text may be. The UK
# server was mostly given the global text: its files are replayed as UK and as global.
PLAN: tuple[tuple[str, str, str, str], ...] = (
    ("pga-versions", "Facebook/Privacy Policy.md", "facebook-privacy-policy", "eu"),
    ("pga-versions", "Instagram/Privacy Policy.md", "instagram-privacy-policy", "eu"),
    ("pga-versions", "Threads/Privacy Policy.md", "threads-privacy-policy", "eu"),
    ("pga-versions", "WhatsApp/Privacy Policy.md", "whatsapp-privacy-policy-eea", "eu"),
    ("vlopses-us-versions", "Facebook/Privacy Policy.md", "facebook-privacy-policy", "us"),
    ("vlopses-us-versions", "Facebook/Privacy Policy.md", "privacy-center-genai", "us"),
    ("vlopses-us-versions", "Instagram/Privacy Policy.md", "instagram-privacy-policy", "us"),
    ("vlopses-us-versions", "WhatsApp/Privacy Policy.md", "whatsapp-privacy-policy", "us"),
    ("vlopses-gb-versions", "Facebook/Privacy Policy.md", "facebook-privacy-policy", "uk"),
    ("vlopses-gb-versions", "Facebook/Privacy Policy.md", "facebook-privacy-policy", "us"),
    ("vlopses-gb-versions", "Facebook/Privacy Policy.md", "privacy-center-genai", "uk"),
    ("vlopses-gb-versions", "Instagram/Privacy Policy.md", "instagram-privacy-policy", "uk"),
    ("vlopses-gb-versions", "Instagram/Privacy Policy.md", "instagram-privacy-policy", "us"),
)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout


@dataclass
class Row:
    bundle: str
    file: str
    target: str
    region: str
    versions: int = 0
    changes: int = 0
    upgrades: int = 0
    alerts: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    flip_alerts: int = 0
    years: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    dates: list[str] = field(default_factory=list)  # the alerts' capture dates

    @property
    def per_version_ms(self) -> float:
        return 1000 * self.seconds / self.versions if self.versions else 0.0

    @property
    def flips_per_year(self) -> float:
        return self.flip_alerts / self.years if self.years else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "bundle": self.bundle,
            "file": self.file,
            "target": self.target,
            "region": self.region,
            "versions": self.versions,
            "changes": self.changes,
            "upgrades": self.upgrades,
            "alerts": self.alerts,
            "alerts_by_category": dict(sorted(self.by_category.items())),
            "flip_alerts": self.flip_alerts,
            "years": round(self.years, 2),
            "flip_alerts_per_year": round(self.flips_per_year, 2),
            "failures": dict(sorted(self.failures.items())),
            "seconds": round(self.seconds, 2),
            "ms_per_version": round(self.per_version_ms, 1),
            "alert_dates": self.dates,
        }


def _records(repo: Path) -> list[dict[str, str]]:
    """watcher's records in the repository, oldest first, with their trailers."""
    keys = ("Watcher-Kind", "Watcher-Categories", "Watcher-Snapshot", "Captured-At")
    fmt = "%H%x1f" + "%x1f".join(f"%(trailers:key={k},valueonly,separator=%x2C)" for k in keys)
    out = git(repo, "log", "--reverse", f"--format={fmt}%x1e", "--", "snapshots")
    records = []
    for raw in out.split("\x1e"):
        raw = raw.strip("\n")
        if not raw:
            continue
        sha, *values = raw.split("\x1f")
        records.append({"sha": sha, **{k: v.strip() for k, v in zip(keys, values, strict=True)}})
    return records


def _snapshot_of(repo: Path, sha: str, target: str, region: str) -> str:
    meta = git(repo, "show", f"{sha}:snapshots/{target}/{region}.json")
    return str(json.loads(meta).get("sha256", ""))[:16]


def _years(repo: Path, path: str) -> float:
    dates = git(repo, "log", "--format=%aI", "--", path).split()
    if len(dates) < 2:
        return 0.0
    first, last = (datetime.fromisoformat(d) for d in (dates[-1], dates[0]))
    return max((last - first).days / 365.25, 1 / 12)


def replay_one(config_path: Path, archive: Path, bundle: str, file: str, target: str, region: str,
               scratch: Path) -> Row:  # fmt: skip
    row = Row(bundle, file, target, region)
    repo = scratch / f"{bundle}--{target}--{region}"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "snapshots").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "watcher replay")
    git(repo, "config", "user.email", "replay@example.invalid")
    config = load_config(config_path)
    started = time.perf_counter()
    report = import_archive(
        config, repo / "snapshots", archive, target, region, archive_name=bundle
    )
    row.seconds = time.perf_counter() - started
    row.versions = report.versions
    row.upgrades = report.upgrades
    row.failures = Counter(report.skipped)
    row.years = _years(archive, file)
    records = _records(repo)
    seen: list[str] = []
    alerts: list[tuple[int, dict[str, str]]] = []
    flips: set[int] = set()
    texts: list[str] = []
    for n, record in enumerate(records):
        snap = record["Watcher-Snapshot"] or _snapshot_of(repo, record["sha"], target, region)
        texts.append(snap)
        if record["Watcher-Kind"] == "change":
            row.changes += 1
            cats = [c.strip() for c in record["Watcher-Categories"].split(",") if c.strip()]
            if any(c in ALERTING for c in cats):
                alerts.append((n, record))
                row.by_category.update(c for c in cats if c in ALERTING)
            if snap in seen:  # back to a text recorded before: this and what it undoes
                flips.add(n)
                back = len(texts) - 2 - texts[-2::-1].index(snap)
                flips.update(range(back + 1, n + 1))
        seen.append(snap)
    row.alerts = len(alerts)
    row.flip_alerts = sum(1 for n, _ in alerts if n in flips)
    row.dates = [r["Captured-At"][:10] for _, r in alerts]
    return row


def table(rows: list[Row]) -> str:
    head = (
        "| bundle | file | as | recorded versions | watcher changes | alerts | "
        "data sources / exemptions / opt-out | flip alerts (per year) | failures | ms/version |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        cats = " / ".join(str(r.by_category.get(c, 0)) for c in ALERTING)
        failures = ", ".join(f"{n} {k}" for k, n in sorted(r.failures.items(), key=lambda x: -x[1]))
        lines.append(
            f"| {r.bundle.removesuffix('-versions')} | {r.file.split('/')[0]} | "
            f"{r.target} {r.region.upper()} | {r.versions} | {r.changes} | {r.alerts} | {cats} | "
            f"{r.flip_alerts} ({r.flips_per_year:.1f}) | {failures or '-'} | "
            f"{r.per_version_ms:.0f} |"
        )
    total_v = sum(r.versions for r in rows)
    total_s = sum(r.seconds for r in rows)
    lines.append(
        f"| all | | | {total_v} | {sum(r.changes for r in rows)} | "
        f"{sum(r.alerts for r in rows)} | "
        + " / ".join(str(sum(r.by_category.get(c, 0) for r in rows)) for c in ALERTING)
        + f" | {sum(r.flip_alerts for r in rows)} | "
        f"{sum(sum(r.failures.values()) for r in rows)} | "
        f"{1000 * total_s / total_v if total_v else 0:.0f} |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=Path("/work/shared/history"))
    parser.add_argument("--config", type=Path, default=ROOT / "targets.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", action="append", default=[], help="bundle name(s) to replay")
    parser.add_argument("--keep", type=Path, help="keep the replayed repositories here")
    args = parser.parse_args(argv)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="watcher-replay-"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[Row] = []
    try:
        clones: dict[str, Path] = {}
        for bundle, file, target, region in PLAN:
            if args.only and bundle not in args.only:
                continue
            source = args.history / f"{bundle}.bundle"
            if not source.exists():
                print(f"skipping {bundle}: no {source}", file=sys.stderr)
                continue
            if bundle not in clones:
                clones[bundle] = scratch / "archives" / bundle
                shutil.rmtree(clones[bundle], ignore_errors=True)
                subprocess.run(["git", "clone", "-q", str(source), str(clones[bundle])], check=True)
            row = replay_one(args.config, clones[bundle], bundle, file, target, region, scratch)
            rows.append(row)
            print(
                f"{bundle} {file} as {target}/{region}: {row.versions} versions, "
                f"{row.changes} changes, {row.alerts} alerts, {row.flip_alerts} flips, "
                f"{row.seconds:.1f} s",
                file=sys.stderr,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    wall = time.perf_counter() - started
    text = table(rows) + f"\nWall time {wall:.0f} s for {sum(r.versions for r in rows)} versions.\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replay.md").write_text(text)
    (args.out / "replay.json").write_text(
        json.dumps({"wall_seconds": round(wall, 1), "rows": [r.to_dict() for r in rows]}, indent=2)
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
