"""Import and site at scale: `watcher import` over a whole Open Terms Archive bundle, and
`watcher site` over the history it gives and over the shipped `snapshots/`.

    python bench/scale.py [--bundle ../shared/history/pga-versions.bundle] [--rev REV]

The bundle is cloned into bench/.work/scale/ and imported into a fresh git repository,
target by target (every target of targets.yaml whose `archive:` file the bundle holds, on
the target's first region that the bundle's collection records: `eu` for the Bremen
collection, `uk`/`us` for the vlopses ones). Each `watcher import` and `watcher site` is
a child process timed by os.wait4 (wall, user+sys CPU, max RSS). Writes
bench/results/scale.md and scale.json (also printed). Nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "scale"
RESULTS = ROOT / "bench" / "results"
# the region each collection records (see ../shared/history/README.md)
REGION_OF = {"pga": "eu", "vlopses-gb": "uk", "vlopses-us": "us"}


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, object]:
    """A child's wall time, CPU time and peak memory (os.wait4 on the child itself)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return {
        "cmd": " ".join(cmd[1:]),
        "rc": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "stdout": out.decode(errors="replace"),
        "stderr": err.decode(errors="replace")[-2000:],
    }


def targets_for(bundle_repo: Path, config: Path) -> list[tuple[str, str]]:
    """(target, region) for every target whose archived file the bundle holds."""
    sys.path.insert(0, str(ROOT))
    from watcher.config import load_config

    name = bundle_repo.name.removesuffix("-versions")
    region = REGION_OF.get(name, "eu")
    out = []
    for target in load_config(config).targets:
        if target.archive is None or region not in target.regions:
            continue
        if (bundle_repo / target.archive.path).exists():
            out.append((target.id, region))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", default=str(ROOT.parent / "shared/history/pga-versions.bundle"))
    parser.add_argument("--config", default=str(ROOT / "targets.yaml"))
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    if not bundle.exists():
        sys.exit(f"no bundle at {bundle}: pass --bundle")
    watcher = str(ROOT / ".venv" / "bin" / "watcher")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    archive = WORK / bundle.name.removesuffix(".bundle")
    subprocess.run(["git", "clone", "-q", str(bundle), str(archive)], check=True)
    evidence = WORK / "evidence"
    evidence.mkdir()
    for git_args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "bench"],
        ["config", "user.email", "bench@example.invalid"],
        ["commit", "-q", "--allow-empty", "-m", "Start"],
    ):
        subprocess.run(["git", *git_args], cwd=evidence, check=True)
    imports = []
    for target, region in targets_for(archive, Path(args.config)):
        cmd = [watcher, "import", str(archive), "--target", target, "--region", region]
        cmd += ["--config", args.config, "--snapshots", str(evidence / "snapshots"), "--json"]
        cmd += ["--archive-name", f"OpenTermsArchive/{archive.name}"]
        m = run(cmd, evidence, env)
        try:
            m["report"] = json.loads(str(m["stdout"]))
        except ValueError:
            m["report"] = {}
        del m["stdout"]
        imports.append({"target": target, "region": region, **m})
        print(f"import {target}/{region}: {m['wall_s']} s, {m['peak_mb']} MB", file=sys.stderr)
    sites = []
    for label, snapshots in (
        ("imported above", evidence / "snapshots"),
        ("shipped", ROOT / "snapshots"),
    ):
        out = WORK / f"site-{label.split()[0]}"
        m = run([watcher, "site", "--snapshots", str(snapshots), "--out", str(out)], ROOT, env)
        m["what"] = label
        m["summary"] = (str(m.pop("stdout")).strip().splitlines() or [""])[-1]
        sites.append(m)
        print(f"site ({label}): {m['wall_s']} s, {m['peak_mb']} MB", file=sys.stderr)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    versions = sum(int(i["report"].get("versions", 0)) for i in imports)
    total = round(sum(float(i["wall_s"]) for i in imports), 2)
    lines = [
        "# Import and site at scale",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; watcher at {head}; "
        f"nproc {os.cpu_count()}",
        f"- reproduce: `.venv/bin/python bench/scale.py --bundle {bundle.name}`",
        f"- bundle: {bundle.name}: {len(imports)} targets read {versions} archived versions "
        "(a file two targets share is read by each), imported in "
        f"{total} s into a fresh repository",
        "",
        "| target | region | versions | recorded | upgrades | unchanged (of them not processed) "
        "| skipped | wall | CPU | peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i in imports:
        r = i["report"]
        skipped = sum(r.get("skipped", {}).values()) if isinstance(r.get("skipped"), dict) else 0
        lines.append(
            f"| {i['target']} | {i['region']} | {r.get('versions', '?')} "
            f"| {r.get('recorded', '?')} "
            f"| {r.get('upgrades', '?')} | {r.get('unchanged', '?')} "
            f"({r.get('unchanged_same_stable_form', '?')}) | {skipped} | {i['wall_s']} s "
            f"| {i['cpu_s']} s | {i['peak_mb']} MB |"
        )
    lines += [
        "",
        "| `watcher site` over | wall | CPU | peak | output |",
        "|---|---:|---:|---:|---|",
    ]
    for m in sites:
        lines.append(
            f"| {m['what']} | {m['wall_s']} s | {m['cpu_s']} s | {m['peak_mb']} MB "
            f"| {m['summary']} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "scale.json").write_text(json.dumps({"imports": imports, "sites": sites}, indent=1))
    print("\n".join(lines))
    if any(i["rc"] != 0 for i in imports) or any(m["rc"] != 0 for m in sites):
        sys.exit(1)


if __name__ == "__main__":
    main()
