"""Send alerts through apprise: never lost, never sent twice, never a secret shown.

* Destinations come from APPRISE_URLS (whitespace or comma separated) and, optionally, an
  apprise YAML config file with tags. Untagged URLs receive every alert; a tagged URL
  receives the alerts that a route in targets.yaml (`alerts.routes`) gives its tag.
* Each alert waits in the committed outbox (`evidence/outbox.py`) and records, per
  destination, that it was delivered; what failed is sent on the next run, to the
  destinations that missed it.
* A destination is recorded by a key that reveals nothing of its URL: an HMAC of the URL
  under WATCHER_DELIVERY_KEY when that secret is set, else its position in the list.
* URLs are secrets: only apprise's privacy form (`url(privacy=True)`) is ever shown.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import env, secrets
from .alerts import Channel, compose
from .env import GitHubContext
from .evidence.git import GitRepo
from .evidence.outbox import Outbox
from .models import Alert, AlertKind, AlertMode, AlertSettings

log = logging.getLogger("watcher")

ALERT_TTL = timedelta(days=7)  # an alert nobody could receive for a week is dropped, logged
EMAIL_MAXLEN = 512_000


@dataclass
class Destination:
    key: str  # stable, secret-free id of the URL, recorded in the outbox
    server: Any
    masked: str
    tags: set[str]
    channel: Channel

    @property
    def email(self) -> bool:
        return self.channel.email

    def wants(self, alert: Alert) -> bool:
        return not self.tags or bool(self.tags & set(alert.tags))


def apprise_urls() -> list[str]:
    urls = env.apprise_urls()
    for url in urls:
        secrets.register(url)
    return urls


def _masked(server: Any) -> str:
    """The URL shown in output and logs: its scheme and, where it names one, its host;
    never any part of a token (apprise's own privacy form keeps a token's first and last
    letters, and for many services the host is the token)."""
    raw: str = server.url(privacy=False)
    return secrets.mask_url(raw)


def delivery_key(url: str, index: int, secret: str | None) -> str:
    """What the outbox records for a destination: nothing a dictionary attack can use."""
    if secret:
        return "k" + hmac.new(secret.encode(), url.encode(), hashlib.sha256).hexdigest()[:16]
    return f"d{index}"


def destinations(settings: AlertSettings, urls: list[str] | None = None) -> list[Destination]:
    """Every configured notification target, with its limits and tags."""
    import apprise

    secrets.guard_logger("apprise")  # its messages can quote a URL, or part of a password

    urls = apprise_urls() if urls is None else urls
    for url in urls:
        secrets.register(url)
    obj = apprise.Apprise()
    for url in urls:
        if not obj.add(url):
            log.warning(
                "ignoring an APPRISE_URLS entry apprise cannot read: %s", secrets.mask_url(url)
            )
    if settings.config_file:
        conf = apprise.AppriseConfig()
        if conf.add(settings.config_file):
            obj.add(conf)
        else:
            log.warning("cannot read apprise config file %s", settings.config_file)
    out = []
    secret = env.delivery_key()
    for index, server in enumerate(obj):
        raw = server.url(privacy=False)  # type: ignore[no-untyped-call]
        secrets.register(raw)
        scheme = raw.split(":", 1)[0].lower()
        email = scheme in ("mailto", "mailtos")
        out.append(
            Destination(
                key=delivery_key(raw, index, secret),
                server=server,
                masked=_masked(server),
                tags=set(getattr(server, "tags", set()) or set()),
                channel=Channel(
                    email=email,
                    # apprise's nominal 32 KB for email is no limit of email's own; a long
                    # word diff should arrive whole there
                    body_maxlen=EMAIL_MAXLEN
                    if email
                    else int(getattr(server, "body_maxlen", 0) or 32768),
                    title_maxlen=int(getattr(server, "title_maxlen", 0) or 0),
                ),
            )
        )
    return out


@dataclass
class Delivery:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (alert title, masked url)
    failed: list[tuple[str, str]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # interrupted earlier, not resent

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": len(self.sent),
            "failed": len(self.failed),
            "expired": len(self.expired),
            "uncertain": len(self.uncertain),
            "failed_to": sorted({m for _, m in self.failed}),
        }

    def add(self, other: Delivery) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.expired += other.expired
        self.uncertain += other.uncertain


Checkpoint = Callable[[str], bool]  # commit (and publish) the outbox; False: not published


def deliver(
    outbox: list[Alert],
    dests: list[Destination],
    settings: AlertSettings,
    now: datetime,
    github: GitHubContext,
    checkpoint: Checkpoint | None = None,
) -> Delivery:
    """Send every pending alert to the destinations that have not had it yet.

    Before anything is sent, every send about to start is marked in the outbox and
    `checkpoint` commits (and, in the Actions model, pushes) that mark; if it cannot be
    published nothing is sent. After the sends, the outcome replaces the mark. A mark found
    at the start (a run killed mid-send, or whose last push failed) is settled as delivered,
    with a warning, never sent again: at most once beats twice. The caller commits the
    final state. Entries every wanting destination has received are removed.
    """
    report = Delivery()
    for alert in list(outbox):
        created = datetime.fromisoformat(alert.created_at.replace("Z", "+00:00"))
        if now - created > ALERT_TTL:
            log.warning(
                "dropping an alert nobody could receive for %s days: %s",
                ALERT_TTL.days,
                alert.title,
            )
            report.expired.append(alert.title)
            outbox.remove(alert)
    for alert in outbox:  # sends an earlier run started and never settled
        for key in list(alert.sending):
            alert.sending.remove(key)
            if key not in alert.delivered:
                alert.delivered.append(key)
                alert.uncertain.append(key)
                report.uncertain.append(alert.title)
                log.warning(
                    "an earlier run was stopped while sending '%s'; it is not sent again",
                    alert.title,
                )
    plan: list[tuple[Destination, list[Alert]]] = []
    for dest in dests:
        due = [a for a in outbox if dest.wants(a) and dest.key not in a.delivered]
        if due:
            groups = [due] if settings.mode == AlertMode.DIGEST else [[a] for a in due]
            plan += [(dest, group) for group in groups]
    if plan:
        _send_planned(plan, settings, github, checkpoint, report)
    for alert in list(outbox):  # every wanting destination has it (or settled it)
        wanting = [d.key for d in dests if d.wants(alert)]
        if wanting and all(k in alert.delivered for k in wanting):
            outbox.remove(alert)
    return report


def _send_planned(
    plan: list[tuple[Destination, list[Alert]]],
    settings: AlertSettings,
    github: GitHubContext,
    checkpoint: Checkpoint | None,
    report: Delivery,
) -> None:
    for dest, group in plan:
        for a in group:
            a.sending.append(dest.key)
    if checkpoint is not None and not checkpoint("Record alerts about to be sent"):
        for dest, group in plan:
            for a in group:
                a.sending.remove(dest.key)
        log.warning("could not record the alerts about to be sent; none sent, kept for next run")
        report.failed += [(a.title, dest.masked) for dest, group in plan for a in group]
        return
    for dest, group in plan:
        message = compose(group, dest.channel, github)
        fmt = "html" if message.html else "text"
        ok = _send(dest, message.title, message.body, fmt, message.text)
        for a in group:
            a.attempts += 1
            a.sending.remove(dest.key)
            if ok:
                a.delivered.append(dest.key)
                report.sent.append((a.title, dest.masked))
            else:
                report.failed.append((a.title, dest.masked))


def deliver_pending(
    settings: AlertSettings,
    snapshots: str | Path,
    regions: list[str],
    now: datetime,
    github: GitHubContext,
    repo: GitRepo | None = None,
    outboxes: dict[str, Outbox] | None = None,
    publish: Callable[[], bool] | None = None,
) -> Delivery:
    """Send what waits in these regions' outboxes, recording the sends in git before and
    after. `publish` (e.g. a push) runs after each record; the first must succeed."""
    repo = repo or GitRepo(snapshots)
    boxes = outboxes if outboxes is not None else {}
    for code in regions:
        boxes.setdefault(code, Outbox.load(snapshots, code))
    states = [boxes[r] for r in regions]
    if not any(s.alerts for s in states):
        return Delivery()
    for state in states:
        for alert in state.alerts:
            if alert.kind == AlertKind.CHANGE and not alert.commit:
                alert.commit = repo.first_commit_adding(alert.id, state.path)
    dests = destinations(settings)
    if not dests:
        log.warning("alerts are waiting but no notification URL is set (APPRISE_URLS)")
        return Delivery()

    where = ", ".join(regions)

    def record(message: str) -> bool:
        changed = [s.path for s in states if s.save()]
        if changed:
            repo.commit(changed, message)
        return publish() if publish is not None else True

    def checkpoint(message: str) -> bool:
        return record(f"{message} ({where})")

    delivery = Delivery()
    for state in states:
        delivery.add(deliver(state.alerts, dests, settings, now, github, checkpoint))
    record(
        f"Record alert delivery ({where}): {len(delivery.sent)} sent, "
        f"{len(delivery.failed)} to retry"
    )
    return delivery


def drop_pending(snapshots: str | Path, regions: list[str]) -> int:
    """Discard the alerts waiting in these regions' outboxes (the drop is committed)."""
    repo = GitRepo(snapshots)
    boxes = [Outbox.load(snapshots, code) for code in regions]
    dropped = sum(box.drop() for box in boxes)
    changed = [b.path for b in boxes if b.save()]
    if changed:
        repo.commit(changed, f"Drop {dropped} pending alerts")
    return dropped


@contextmanager
def _text_part(text: str) -> Iterator[None]:
    """While sending, give an HTML email watcher's own plain-text part.

    apprise writes the text part of an HTML email with its HTML-to-text conversion, which
    drops what <del> and <ins> mean; watcher's text keeps them (`+`, `-`, `[-…-] {+…+}`).
    Where apprise's email plugin has no such conversion to stand in for, nothing changes."""
    import importlib

    try:
        base: Any = importlib.import_module("apprise.plugins.email.base")
    except ImportError:  # pragma: no cover - another apprise layout
        base = None
    original = getattr(base, "convert_between", None)
    if not text or original is None:
        yield
        return

    def convert(source: Any, target: Any, content: Any, *args: Any, **kw: Any) -> Any:
        formats = (getattr(source, "value", source), getattr(target, "value", target))
        if formats == ("html", "text"):
            return text
        return original(source, target, content, *args, **kw)

    base.convert_between = convert
    try:
        yield
    finally:
        base.convert_between = original


def _send(dest: Destination, title: str, body: str, fmt: str, text: str = "") -> bool:
    import apprise

    body_format = apprise.NotifyFormat.HTML if fmt == "html" else apprise.NotifyFormat.TEXT
    # Through an Apprise object, not the plugin directly: it converts the body to what each
    # service speaks (HTML for email, escaped text for chat).
    single = apprise.Apprise()
    single.add(dest.server)
    try:
        with _text_part(text if fmt == "html" else ""):
            ok = bool(single.notify(body=body, title=title, body_format=body_format))
    except Exception as exc:  # a plugin bug must not lose the other destinations
        log.warning("sending to %s raised %s", dest.masked, type(exc).__name__)
        ok = False
    if not ok:
        log.warning("could not send an alert to %s; it stays in the outbox", dest.masked)
    return ok


def send_test(settings: AlertSettings) -> list[tuple[str, bool]]:
    """Send a test message to every destination; (masked URL, delivered) for each."""
    out = []
    for dest in destinations(settings):
        title = "watcher: test alert"
        body = (
            "This is a test from watcher. Alerts about changes to what Meta's privacy "
            "pages say about AI training will arrive here."
        )
        if dest.email:
            body = f"<p>{html.escape(body)}</p>"
        out.append((dest.masked, _send(dest, title, body, "html" if dest.email else "text")))
    return out
