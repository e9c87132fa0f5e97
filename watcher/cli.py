"""Command line: a thin layer that parses arguments, calls one library function and prints.

Exit status: 0 when the command completed (a run with failing targets included: they are
reported, not fatal), 2 for a bad config or usage, 1 for an internal error. Heavy imports
(httpx, apprise, the browser) happen inside the commands, so `watcher --help` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import BusyError, ConfigError, UsageError, WatcherError

if TYPE_CHECKING:
    from .report import RunReport

EXAMPLES = """\
examples:
  watcher run --region us                 fetch, record changes in git, send alerts
  watcher run --no-commit --json          write snapshots only, print results as JSON
  watcher check facebook-privacy-policy   fetch and print the extraction, store nothing
  watcher extract page.html --target facebook-privacy-policy
  watcher validate                        check targets.yaml
"""


def _config_args(p: argparse.ArgumentParser, snapshots: bool = True) -> None:
    p.add_argument(
        "--config",
        default="targets.yaml",
        metavar="FILE",
        help="targets file (default: ./targets.yaml)",
    )
    if snapshots:
        p.add_argument(
            "--snapshots",
            default="snapshots",
            metavar="DIR",
            help="snapshots folder inside a git repository (default: ./snapshots)",
        )


def _lock_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="wait this long for another run on the repository to finish, then exit 3 "
        "(default: 60)",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .report import text_summary, to_json
    from .run import Runner

    config = load_config(args.config)
    runner = Runner(
        config,
        args.snapshots,
        commit=not args.no_commit,
        notify=not args.no_notify,
        lock_timeout=args.lock_timeout,
        audit=args.audit,
    )
    report = runner.run(targets=args.target, regions=args.region)
    print(to_json(report) if args.json else text_summary(report))
    _github_outputs(report, args.snapshots)
    for result in report.internal_errors:
        print(f"error: {result.target}/{result.region}: {result.error}", file=sys.stderr)
    return 1 if report.internal_errors else 0


def _github_outputs(report: RunReport, snapshots: str) -> None:
    """In GitHub Actions: the job summary table and a warning per page that failed."""
    import os

    from . import env
    from .report import step_summary, warning_annotations

    github = env.github()
    if github.step_summary:
        with open(github.step_summary, "a", encoding="utf-8") as handle:
            handle.write(step_summary(report, github, os.path.relpath(snapshots)))
    if github.actions:
        for line in warning_annotations(report):
            print(line, file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config

    config = load_config(args.config)
    pairs = sum(len(t.regions) for t in config.targets)
    print(
        f"{args.config}: OK: {_n(len(config.targets), 'target')}, "
        f"{_n(len(config.regions), 'region')}, {_n(pairs, 'target × region pair')}"
    )
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def cmd_check(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run import check, check_recorded

    config = load_config(args.config)
    if args.recorded:
        if not args.region or len(args.region) != 1:
            raise UsageError("--recorded needs exactly one --region")
        again = check_recorded(config, args.snapshots, args.target, args.region[0], args.recorded)
        print(again.observation.text, end="")
        verdict = (
            "the same as the recorded snapshot"
            if again.same
            else "DIFFERENT from the recorded snapshot: today's rules read this page otherwise"
        )
        print(
            f"\n<!-- {again.rev[:10]}: re-extracted with today's rules: {verdict} -->",
            file=sys.stderr,
        )
        return 0
    for outcome in check(config, args.target, args.region):
        print(outcome.header)
        if outcome.observation is None:
            print(f"{outcome.status}: {outcome.reason}\n")
            continue
        obs = outcome.observation
        print(f"{obs.sentences} sentences, page {obs.page_chars} characters\n")
        print(obs.text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    import json

    from .config import load_config
    from .evidence.importer import ImportReport, import_archive

    config = load_config(args.config)

    def progress(report: ImportReport, done: int) -> None:
        if not args.quiet:
            print(
                f"\rimport {report.target}/{report.region}: {done}/{report.versions} versions, "
                f"{report.recorded} changes, {sum(report.skipped.values())} skipped, "
                f"{report.seconds:.1f} s",
                end="",
                file=sys.stderr,
                flush=True,
            )

    report = import_archive(
        config,
        args.snapshots,
        args.archive,
        args.target,
        args.region,
        archive_name=args.archive_name,
        progress=progress,
        lock_timeout=args.lock_timeout,
    )
    if not args.quiet and report.versions:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(report.skipped.items())) or "none"
    print(
        f"{report.target}/{report.region} from {report.archive}: {report.versions} versions read"
        f" ({report.already} imported before), {report.recorded} recorded, "
        f"{report.upgrades} archive upgrades, {report.unchanged} unchanged; skipped: {skipped}"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .run import show_recorded

    print(
        show_recorded(args.snapshots, args.target, args.region, args.rev, args.raw, args.capture),
        end="",
    )
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from .config import load_config
    from .page import decode
    from .process import inspect_page

    config = load_config(args.config)
    target = config.target(args.target)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    name = path.name
    if data[:2] == b"\x1f\x8b":  # saved pages are often kept gzip-compressed
        import gzip

        data, name = gzip.decompress(data), name.removesuffix(".gz")
    seen = inspect_page(decode(data, None), target, name)
    print(seen.observation.text, end="")
    print(
        f"\n<!-- {seen.observation.sentences} sentences; page {seen.observation.page_chars} "
        f"characters; variant markers found: {', '.join(sorted(seen.variant)) or 'none'}"
        f"{'; looks like a wall: ' + seen.wall if seen.wall else ''} -->",
        file=sys.stderr,
    )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    import json

    from .evidence.history import history

    entries = history(args.snapshots, args.target, args.region, args.limit, upgrades=args.all)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("no recorded changes")
    for e in entries:
        cats = ", ".join(e.categories) or "-"
        print(
            f"{e.date[:16].replace('T', ' ')}  {e.commit[:10]}  {e.target}/{e.region}  "
            f"[{cats}]  {e.summary}"
        )
        if e.story:  # what changed for the three questions, and the counts
            print(f"    {e.story}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .config import load_config
    from .evidence.history import diff_versions
    from .render import render_html, render_markdown, render_text
    from .story import tell

    config = load_config(args.config)
    config.target(args.target)
    if args.region is None:
        raise UsageError("--region is required (for example --region eu)")
    result = diff_versions(config, args.snapshots, args.target, args.region, args.rev_a, args.rev_b)
    cls = result.classification
    render = {"text": render_text, "markdown": render_markdown, "html": render_html}[args.format]
    story = tell(result.changes, cls.events)
    header = (
        f"{args.target} ({args.region}) {result.rev_a[:10]}..{result.rev_b[:10]}: "
        f"{story.summary} — {story.counts.line()} categories: "
        f"{', '.join(cls.categories) or 'none'}"
    )
    print(header if args.format == "text" else f"<!-- {header} -->")
    print(render(result.changes, cls.events))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from .config import load_config
    from .evidence.history import compare_regions, compare_text

    config = load_config(args.config)
    config.target(args.target)
    for code in (args.region_a, args.region_b):
        if code not in config.regions:
            raise UsageError(f"unknown region '{code}' (known: {', '.join(config.regions)})")
    c = compare_regions(args.snapshots, args.target, args.region_a, args.region_b)
    if args.json:
        print(json.dumps(c.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(compare_text(c))
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    from .config import load_config
    from .site import build_site

    config = load_config(args.config)
    built = build_site(
        config, args.snapshots, args.out, base_url=args.base_url, repo_url=args.repo_url
    )
    print(
        f"{built.out}: {_n(built.pages, 'page')}, {_n(built.changes, 'recorded change')}, "
        f"{built.bytes / 1e6:.1f} MB in {built.seconds:.1f} s"
    )
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from . import env
    from .config import load_config
    from .notify import deliver_pending, drop_pending, send_test
    from .secrets import redact, register_env

    register_env()
    config = load_config(args.config)
    if args.test:
        outcomes = send_test(config.alerts)
        if not outcomes:
            raise UsageError(
                "no notification URLs to test: set APPRISE_URLS (or alerts.config_file)"
            )
        for masked, ok in outcomes:
            print(redact(f"{'sent  ' if ok else 'FAILED'}  {masked}"))
        return 0 if all(ok for _, ok in outcomes) else 1
    from .evidence.history import open_repo

    regions = args.region or list(config.regions)
    for code in regions:
        if code not in config.regions:
            raise UsageError(f"unknown region '{code}' (known: {', '.join(config.regions)})")
    import time

    from .evidence.lock import RepoLock, recover_index_lock
    from .evidence.record import committed_state
    from .evidence.store import SnapshotStore

    started = time.time()
    repo = open_repo(args.snapshots)  # outside a repository: a usage error, before anything
    with RepoLock(repo, args.lock_timeout):  # never beside a run that may be sending too
        # as a run does: a killed notify may have left marks written but not committed,
        # which must not read as sends that started
        recover_index_lock(repo, started)
        committed_state(SnapshotStore(args.snapshots), repo)
        if args.drop:
            print(f"dropped {drop_pending(args.snapshots, regions)} pending alerts")
            return 0
        delivery = deliver_pending(
            config.alerts,
            args.snapshots,
            regions,
            datetime.now(UTC),
            env.github(),
            publish=_publisher(args.push_command),
        )
    print(
        redact(
            f"{len(delivery.sent)} sent, {len(delivery.failed)} failed (kept for the next "
            f"run), {len(delivery.expired)} expired"
        )
    )
    for title, masked in delivery.failed:
        print(redact(f"  not delivered to {masked}: {title}"))
    return 0


def _publisher(command: str | None) -> Callable[[], bool] | None:
    """Run `command` (for example scripts/push-with-retry) after each delivery record."""
    if not command:
        return None
    import shlex
    import subprocess

    def publish() -> bool:
        done = subprocess.run(shlex.split(command), check=False)
        return done.returncode == 0

    return publish


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    received = run_demo(keep=args.keep)
    return 0 if received else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Watch what Meta's privacy pages say about training AI on people's data, "
        "region by region; keep every wording in git; alert on changes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    # -v after the subcommand too (`watcher run -v`); SUPPRESS keeps the top-level value
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log progress to stderr",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "run",
        parents=[common],
        help="run the job: fetch, record changes, alert",
        description="Fetch every target × region, record changed AI-training "
        "wording as git commits and send alerts.\n\n"
        "example: watcher run --region eu --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_args(p)
    p.add_argument("--target", action="append", metavar="ID", help="only this target (repeatable)")
    p.add_argument("--region", action="append", metavar="R", help="only this region (repeatable)")
    p.add_argument("--no-commit", action="store_true", help="write snapshot files, commit nothing")
    p.add_argument("--no-notify", action="store_true", help="send no alerts")
    p.add_argument(
        "--audit",
        action="store_true",
        help="process every page in full, even one whose bytes or stable form match its "
        "snapshot's, and report any page such a skip would have misread",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with a results list")
    _lock_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "validate",
        parents=[common],
        help="check targets.yaml and report every problem",
        description="example: watcher validate --config targets.yaml",
    )
    _config_args(p, snapshots=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "check",
        parents=[common],
        help="fetch and extract one target, print it, store nothing",
        description="example: watcher check facebook-privacy-policy --region us",
    )
    _config_args(p)
    p.add_argument("target", metavar="TARGET", help="the target id, as in targets.yaml")
    p.add_argument("--region", action="append", metavar="R", help="only this region (repeatable)")
    p.add_argument(
        "--recorded",
        metavar="REV",
        help="fetch nothing: re-extract the raw capture recorded at git revision REV",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "import",
        parents=[common],
        help="import an Open Terms Archive versions repository as backdated evidence",
        description="Reads every recorded version of the target's archived file (its "
        "`archive:` in targets.yaml), checks each as a live page would be checked, and "
        "commits each real change with the archive's date. No alert is sent. Running it "
        "again adds nothing.\n\n"
        "example: watcher import ../pga-versions --target facebook-privacy-policy --region eu",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_args(p)
    p.add_argument("archive", metavar="REPO", help="a clone of the archive's versions repository")
    p.add_argument("--target", required=True, metavar="ID", help="the target to import")
    p.add_argument("--region", metavar="R", help="the region its versions must show")
    p.add_argument(
        "--archive-name", metavar="NAME", help="name recorded in the trailers (default: folder)"
    )
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _lock_arg(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="print a recorded snapshot, or with --raw the page it was made from",
        description="example: watcher show facebook-privacy-policy --region eu HEAD~2 --raw",
    )
    _config_args(p)
    p.add_argument("target", metavar="TARGET", help="the target id")
    p.add_argument("--region", required=True, metavar="R", help="the region")
    p.add_argument("rev", nargs="?", default="HEAD", metavar="REV", help="git revision (HEAD)")
    p.add_argument("--raw", action="store_true", help="print the raw capture, not the snapshot")
    p.add_argument(
        "--capture", action="store_true", help="print the capture record (where it came from)"
    )
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "extract",
        parents=[common],
        help="extract a saved page offline (HTML or Markdown)",
        description="example: watcher extract saved.html --target facebook-privacy-policy",
    )
    _config_args(p, snapshots=False)
    p.add_argument("file", metavar="FILE", help="a saved page: HTML or Markdown, may be .gz")
    p.add_argument("--target", required=True, metavar="ID", help="whose rules to apply")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser(
        "history",
        parents=[common],
        help="list recorded changes from git",
        description="example: watcher history facebook-privacy-policy --region eu",
    )
    _config_args(p)
    p.add_argument("target", nargs="?", metavar="TARGET", help="only this target")
    p.add_argument("--region", metavar="R", help="only this region")
    p.add_argument("--limit", type=int, metavar="N", help="at most N entries, newest first")
    p.add_argument(
        "--all", action="store_true", help="include extraction upgrades (watcher's, not Meta's)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "diff",
        parents=[common],
        help="word diff between two recorded versions",
        description="example: watcher diff facebook-privacy-policy --region eu "
        "HEAD~3 HEAD (default: the last recorded change)",
    )
    _config_args(p)
    p.add_argument("target", metavar="TARGET", help="the target id")
    p.add_argument("--region", metavar="R", help="the region (required)")
    p.add_argument("rev_a", nargs="?", metavar="REV_A", help="older revision (git rev)")
    p.add_argument("rev_b", nargs="?", metavar="REV_B", help="newer revision (default: HEAD)")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "html"),
        default="text",
        help="output format (default: text)",
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser(
        "compare",
        parents=[common],
        help="what one region's text says that another's does not",
        description="example: watcher compare facebook-privacy-policy eu us",
    )
    _config_args(p)
    p.add_argument("target", metavar="TARGET", help="the target id")
    p.add_argument("region_a", metavar="REGION_A", help="one region, e.g. eu")
    p.add_argument("region_b", metavar="REGION_B", help="the other, e.g. us")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "site",
        parents=[common],
        help="build the evidence site (static HTML) from the snapshots and their history",
        description="Builds a static site from the snapshots and their git history: the\n"
        "answers per service and region, every change with its word diff, the current\n"
        "texts, region comparisons and feeds. The same repository gives the same bytes.\n\n"
        "example: watcher site --out site --repo-url https://github.com/OWNER/REPO",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_args(p)
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder to write the site into: new, empty, or made by an earlier build",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="the address the site is published at, for canonical links (links stay relative)",
    )
    p.add_argument(
        "--repo-url",
        metavar="URL",
        help="the repository's web address, to link each change to its commit and raw capture",
    )
    p.set_defaults(func=cmd_site)

    p = sub.add_parser(
        "notify",
        parents=[common],
        help="send pending alerts; --test checks every URL",
        description="Sends the alerts waiting in the outbox (a run with "
        "--no-notify leaves them there). URLs come from APPRISE_URLS.\n\n"
        "example: APPRISE_URLS='mailto://...' watcher notify --test",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_args(p)
    p.add_argument(
        "--region", action="append", metavar="R", help="only this region's outbox (repeatable)"
    )
    p.add_argument("--test", action="store_true", help="send a test message to every URL")
    p.add_argument("--drop", action="store_true", help="discard pending alerts (committed)")
    p.add_argument(
        "--push-command",
        metavar="CMD",
        help="run CMD (e.g. scripts/push-with-retry) after recording the sends about to start "
        "and again after recording their outcome; nothing is sent unless the first succeeds",
    )
    _lock_arg(p)
    p.set_defaults(func=cmd_notify)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="replay real archived Meta pages offline, in one minute",
        description="Serves real archived versions of Meta's policy on "
        "127.0.0.1, runs the pipeline twice into a temporary git repository, "
        "and prints the alerts and the history. No network, no set-up.\n\n"
        "example: watcher demo --keep /tmp/watcher-demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--keep", metavar="DIR", help="build the repository here and keep it")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `diff TARGET --region R REV_A REV_B`, `show TARGET --region R REV`: revisions may
    # follow the options
    command = getattr(args, "command", None)
    if command in ("diff", "show") and extra and not extra[0].startswith("-"):
        if command == "diff":
            revs = [r for r in (args.rev_a, args.rev_b) if r] + extra
            if len(revs) > 2:
                parser.error(f"diff takes at most two revisions, got {' '.join(revs)}")
            args.rev_a, args.rev_b = ([*revs, None, None])[:2]
        else:
            if len(extra) > 1 or args.rev != "HEAD":
                parser.error(f"show takes one revision, got {' '.join([args.rev, *extra])}")
            args.rev = extra[0]
        extra = []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(message)s",
        stream=sys.stderr,
    )
    _install_redaction()
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BusyError as exc:
        print(f"busy: {exc}", file=sys.stderr)
        return 3
    except WatcherError as exc:
        from .secrets import redact

        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`watcher history | head -1`): not an error of ours
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception:
        import traceback

        from .secrets import redact

        print(redact("internal error:\n" + traceback.format_exc()), file=sys.stderr)
        return 1


def _install_redaction() -> None:
    """Every log record passes through secrets.redact before it is printed."""

    class _Redact(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            from .secrets import redact

            record.msg = redact(record.getMessage())
            record.args = ()
            return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(_Redact())
