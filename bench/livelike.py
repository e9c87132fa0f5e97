"""Live-like pages: every response differs from the last, its text does not.

Meta never serves the same bytes twice: the values of tracking query parameters (`_nc_gid`,
`_nc_cat`, `_nc_ohc`, … `oh`, `oe`, `h`, `entry_point`, `locale2`), the CDN host names
(`video-fra3-1.xx.fbcdn.net`, `scontent-lhr8-2.xx.fbcdn.net`), the obfuscated class names
(`.bh`, `.bk`, `x1a2b3c`) and the nonces change on every request. `Template` turns one real
page into literal pieces and slots once (a precompiled regex, at start-up); `render` then
fills the slots with a fresh, consistent random mapping per response (one C-level gather and
one join), so a response costs well under a millisecond:

- a tracking-token value, in plain (`&amp;oh=…`) or percent-encoded (`%26oh%3D…`,
  `%2526oh%253D…`) query strings: each run of letters or digits is replaced by a random run
  of the same length and kind (digits stay digits, hex stays hex); separators and percent
  escapes are kept, so every URL stays well formed; equal runs get equal replacements;
- an fbcdn host name (`<label>.xx.fbcdn.net`, and the `_nc_ht=<label>.xx` value naming it):
  the label becomes `<kind>-<pop><d>-<d>` with a random point of presence;
- a class name, in `class="…"` attributes and in the selectors of `<style>` (not inside
  `url(…)` or strings): a random permutation among names of the same length, one mapping per
  response for the whole page, so the CSS still matches the markup;
- a `nonce="…"` value: fresh per response. A page without a nonce attribute (the archived
  text versions rendered to HTML carry none) gets an empty `<style nonce="…"></style>` in its
  head, as Meta's pages carry nonce'd style and script elements: so every fetch differs.

Text nodes are never touched. `check_template` verifies that a template rebuilds the page
byte for byte, and that a rewritten copy parses to the same tags and the same text with
every class mapped consistently; bench/run.py --check adds watcher's own snapshot text.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

TOKEN_KEYS = rb"_nc_[a-z0-9_]+|oh|oe|h|entry_point|locale2"
# An fbcdn host's first label (`video-fra3-1` in video-fra3-1.xx.fbcdn.net), also right
# after a percent-encoded slash (`https%3A%2F%2Fvideo-…`).
_HOST_RE = (
    rb"(?:(?<=%2[Ff])|(?<![\w.%-]))(?P<host>[a-z][a-z0-9]*(?:-[a-z0-9]+)*)"
    rb"(?=\.xx\.fbcdn\.net\b)"
)
# One precompiled scan over the page. Alternatives, leftmost first:
#   style: a <style> element, whose selectors and url(...) hosts are scanned separately;
#   cls:   the value of a class attribute;
#   nonce: the value of a nonce attribute;
#   token: a tracking query parameter (plain, &amp;-escaped, or percent-encoded once or more);
#   host:  an fbcdn host name.
_SCAN = re.compile(
    rb"(?P<style><style\b[^>]*>)(?P<css>.*?)</style>"
    rb'|(?<=\sclass=")(?P<cls>[^"]*)(?=")'
    rb'|(?<=\snonce=")(?P<nonce>[^"]*)(?=")'
    rb"|(?P<tpre>[?&;]|%(?:25)*+(?:26|3[Ff]))(?P<key>" + TOKEN_KEYS + rb")"
    rb"(?P<eq>=|%(?:25)*+3[Dd])"
    rb"(?P<val>(?:[A-Za-z0-9_.\-~]|%(?:25)*+(?!26|3[Dd]|23|3[Ff])[0-9A-Fa-f]{2})+)"
    rb"|" + _HOST_RE,
    re.S,
)
# Inside <style>: url(...) and strings are skipped (hosts in them are still rewritten);
# `.name` outside them is a class selector.
_CSS = re.compile(
    rb"(?P<url>url\([^)]*\))|(?P<str>\"[^\"]*\"|'[^']*')|\.(?P<sel>-?[_a-zA-Z][\w-]*)"
)
_HOST = re.compile(_HOST_RE)
_HT_VALUE = re.compile(rb"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\.xx(?:\.fbcdn\.net)?")
_NONCE_ATTR = re.compile(rb'(?<=\snonce=")([^"]*)(?=")')
_RUNS = re.compile(rb"(%(?:25)*[0-9A-Fa-f]{2}|[^A-Za-z0-9]+)")  # separators within a value
_HEAD = re.compile(rb"<head\b[^>]*>", re.I)
_CLASS_SPLIT = re.compile(rb"(\s+)")

DIGITS = b"0123456789"
UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = b"abcdefghijklmnopqrstuvwxyz"
ALNUM = UPPER + LOWER + DIGITS
HEX_UP = b"0123456789ABCDEF"
HEX_LOW = b"0123456789abcdef"
NONCE_CHARS = ALNUM
NONCE_LEN = 8
# Points of presence seen in fbcdn host names (as in scontent-fra3-1, video-lhr8-2).
POPS = (
    b"fra", b"lhr", b"ams", b"cdg", b"mad", b"waw", b"arn", b"mxp", b"vie", b"dus", b"muc",
    b"ham", b"prg", b"bru", b"cph", b"osl", b"hel", b"dub", b"lis", b"ath", b"sof", b"otp",
    b"bud", b"zrh", b"ber", b"mrs", b"fco", b"lys",
)  # fmt: skip


def _table(alphabet: bytes) -> bytes:
    """bytes.translate table: every byte value to a character of the alphabet."""
    return bytes(alphabet[i % len(alphabet)] for i in range(256))


KINDS = {
    "digits": _table(DIGITS),
    "upper": _table(UPPER),
    "lower": _table(LOWER),
    "hexup": _table(HEX_UP),
    "hexlow": _table(HEX_LOW),
    "alnum": _table(ALNUM),
}


def kind_of(run: bytes) -> str:
    """The alphabet a random replacement of this run of letters and digits is drawn from."""
    if run.isdigit():
        return "digits"
    if re.fullmatch(rb"[0-9A-F]+", run) and re.search(rb"\d", run):
        return "hexup"
    if re.fullmatch(rb"[0-9a-f]+", run) and re.search(rb"\d", run):
        return "hexlow"
    if run.isalpha() and run.isupper():
        return "upper"
    if run.isalpha() and run.islower():
        return "lower"
    return "alnum"


@dataclass
class Template:
    """A page as literal pieces and slots; `render` fills the slots afresh per response.

    `keys` lists the distinct originals (kind, bytes) in the order `values` produces their
    replacements; `pieces` alternates literal and slot (slots hold the original bytes), and
    `slot_index[i]` is the key of slot i.
    """

    original: bytes  # the page as archived
    base: bytes  # the page the slots are cut from (with a nonce'd <style> added if it had none)
    pieces: list[bytes]
    slot_index: list[int]
    keys: list[tuple[str, bytes]]
    counts: Counter[str] = field(default_factory=Counter)  # rewritten sites by kind
    injected_nonce: bool = False

    def __post_init__(self) -> None:
        need: Counter[str] = Counter()
        self._tok: list[tuple[str, int, int]] = []
        self._hosts: list[bytes] = []
        self._classes: dict[int, int] = {}  # length -> how many distinct names
        self._nonces = 0
        for kind, orig in self.keys:
            if kind == "tok":
                k = kind_of(orig)
                self._tok.append((k, need[k], need[k] + len(orig)))
                need[k] += len(orig)
            elif kind == "host":
                self._hosts.append(orig)
            elif kind == "cls":
                self._classes[len(orig)] = self._classes.get(len(orig), 0) + 1
            else:
                self._nonces += 1
        self._need = dict(need)
        for length, count in self._classes.items():
            _pool(length, count)
        n = len(self.slot_index)
        self._gather: Callable[[list[bytes]], tuple[bytes, ...]] = lambda values: ()
        if n == 1:
            only = self.slot_index[0]
            self._gather = lambda values: (values[only],)
        elif n:
            self._gather = itemgetter(*self.slot_index)

    @classmethod
    def compile(cls, page: bytes) -> Template:
        return _Builder(page).build()

    def values(self, rng: random.Random) -> list[bytes]:
        """A fresh replacement for every key, in key order."""
        bufs = {k: rng.randbytes(n).translate(KINDS[k]) for k, n in self._need.items()}
        out = [bufs[k][a:b] for k, a, b in self._tok]
        for label in self._hosts:
            kind = label.split(b"-", 1)[0]
            while True:
                pop = POPS[rng.randrange(len(POPS))]
                new = b"%s-%s%d-%d" % (kind, pop, rng.randrange(1, 10), rng.randrange(1, 4))
                if new != label:
                    break
            out.append(new)
        for length, count in self._classes.items():
            out += rng.sample(_POOLS[length], count)
        if self._nonces:
            out += [rng.randbytes(NONCE_LEN).translate(KINDS["alnum"])] * self._nonces
        return out

    def render(self, rng: random.Random) -> bytes:
        return self.fill(self.values(rng))

    def fill(self, values: list[bytes]) -> bytes:
        if not self.slot_index:
            return self.base
        parts = self.pieces.copy()
        parts[1::2] = self._gather(values)
        return b"".join(parts)

    def identity(self) -> list[bytes]:
        """The values that give back `base` (for the round-trip check)."""
        return [orig for _, orig in self.keys]


_POOLS: dict[int, list[bytes]] = {}


def _pool(length: int, at_least: int) -> list[bytes]:
    """Class names of one length to draw from: every name of 1-3 letters; longer names are
    atomic-CSS-like (`x` then letters and digits), a few times more than needed."""
    pool = _POOLS.get(length)
    if pool is None or len(pool) < at_least:
        if length <= 3:
            names = [b""]
            for _ in range(length):
                names = [n + bytes([c]) for n in names for c in LOWER]
        else:
            rng = random.Random(length)
            seen: set[bytes] = set()
            while len(seen) < max(4 * at_least, 512):
                seen.add(b"x" + rng.randbytes(length - 1).translate(_table(LOWER + DIGITS)))
            names = sorted(seen)
        if len(names) < at_least:
            raise ValueError(f"{at_least} class names of length {length}: not enough names")
        pool = _POOLS[length] = names
    return pool


class _Builder:
    """One pass of the precompiled scan over a page: literals and slots."""

    def __init__(self, page: bytes):
        self.original = page
        self.injected = False
        if not _NONCE_ATTR.search(page):
            head = _HEAD.search(page)
            if head is not None:
                page = page[: head.end()] + b'<style nonce=""></style>' + page[head.end() :]
                self.injected = True
        self.page = page
        self.pieces: list[bytes] = []
        self.slot_keys: list[tuple[str, bytes]] = []
        self.counts: Counter[str] = Counter()
        self.last = 0

    def slot(self, start: int, end: int, kind: str, what: str) -> None:
        self.pieces.append(self.page[self.last : start])
        self.pieces.append(self.page[start:end])
        self.slot_keys.append((kind, self.page[start:end]))
        self.counts[what] += 1
        self.last = end

    def value(self, start: int, end: int) -> None:
        """A tracking-token value: one slot per run of letters and digits."""
        offset = start
        for part in _RUNS.split(self.page[start:end]):
            if part and not _RUNS.fullmatch(part):
                self.slot(offset, offset + len(part), "tok", "token run")
            offset += len(part)

    def css(self, start: int, end: int) -> None:
        for m in _CSS.finditer(self.page, start, end):
            if m.group("sel") is not None:
                self.slot(m.start("sel"), m.end("sel"), "cls", "class name (CSS)")
            elif m.group("url") is not None:
                for h in _HOST.finditer(self.page, m.start(), m.end()):
                    self.slot(h.start("host"), h.end("host"), "host", "fbcdn host")

    def build(self) -> Template:
        page = self.page
        for m in _SCAN.finditer(page):
            if m.group("style") is not None:
                n = _NONCE_ATTR.search(page, m.start("style"), m.end("style"))
                if n is not None:
                    self.slot(n.start(1), n.end(1), "nonce", "nonce")
                self.css(m.start("css"), m.end("css"))
            elif m.group("cls") is not None:
                start = m.start("cls")
                for part in _CLASS_SPLIT.split(m.group("cls")):
                    if part and not part.isspace():
                        self.slot(start, start + len(part), "cls", "class name (markup)")
                    start += len(part)
            elif m.group("nonce") is not None:
                self.slot(m.start("nonce"), m.end("nonce"), "nonce", "nonce")
            elif m.group("key") is not None:
                self.counts["tracking parameter"] += 1
                host = _HT_VALUE.fullmatch(m.group("val"))
                if m.group("key") == b"_nc_ht" and host:
                    start = m.start("val")
                    self.slot(start, start + len(host.group(1)), "host", "fbcdn host")
                else:
                    self.value(m.start("val"), m.end("val"))
            elif m.group("host") is not None:
                self.slot(m.start("host"), m.end("host"), "host", "fbcdn host")
        self.pieces.append(page[self.last :])
        # keys in the order Template.values produces them: tokens, hosts, classes by length,
        # nonces
        distinct = list(dict.fromkeys(self.slot_keys))
        rank = {"tok": 0, "host": 1, "cls": 2, "nonce": 3}
        keys = sorted(distinct, key=lambda k: (rank[k[0]], len(k[1]) if k[0] == "cls" else 0))
        # classes: grouped by length in first-seen order of lengths (values() iterates a dict)
        lengths = list(dict.fromkeys(len(o) for kind, o in keys if kind == "cls"))
        keys = (
            [k for k in keys if k[0] in ("tok", "host")]
            + [k for n in lengths for k in keys if k[0] == "cls" and len(k[1]) == n]
            + [k for k in keys if k[0] == "nonce"]
        )
        where = {k: i for i, k in enumerate(keys)}
        return Template(
            original=self.original,
            base=page,
            pieces=self.pieces,
            slot_index=[where[k] for k in self.slot_keys],
            keys=keys,
            counts=self.counts,
            injected_nonce=self.injected,
        )


# --------------------------------------------------------------------------- checks


def check_template(t: Template, seeds: tuple[int, ...] = (1, 2)) -> dict[str, object]:
    """Raise AssertionError unless the template is faithful; return what it rewrites.

    - filled with the original values it rebuilds the page byte for byte (nonce-less pages:
      but for the empty `<style nonce="">` added to their head);
    - each rewritten copy differs from the original and from the other copies;
    - each copy parses (lexbor) to the same sequence of tags, the same text, and classes
      mapped one-to-one (every original class name to one new name and back).
    """
    from selectolax.lexbor import LexborHTMLParser

    rebuilt = t.fill(t.identity())
    assert rebuilt == t.base, "template does not rebuild the page"
    if t.injected_nonce:
        assert t.base.replace(b'<style nonce=""></style>', b"", 1) == t.original

    def shape(html: bytes) -> tuple[list[str | None], str, list[list[str]], list[str]]:
        tree = LexborHTMLParser(html)
        nodes = list(tree.root.traverse(include_text=False)) if tree.root else []
        tags = [n.tag for n in nodes]
        classes = [(n.attributes.get("class") or "").split() for n in nodes]
        css = "".join(n.text(deep=True) for n in tree.css("style")).encode()
        selectors = [m.group("sel").decode() for m in _CSS.finditer(css) if m.group("sel")]
        text = tree.body.text(deep=True) if tree.body else ""
        return tags, text, classes, selectors

    tags0, text0, classes0, selectors0 = shape(rebuilt)
    copies = [t.render(random.Random(seed)) for seed in seeds]
    sizes = []
    for copy in copies:
        assert copy != rebuilt, "a rewritten copy is the original"
        tags, text, classes, selectors = shape(copy)
        assert tags == tags0, "a rewritten copy parses to other elements"
        assert text == text0, "a rewritten copy has other text"
        forward: dict[str, str] = {}
        backward: dict[str, str] = {}
        for a, b in zip(classes0, classes, strict=True):
            assert len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                assert forward.setdefault(x, y) == y, f"class {x} mapped twice"
                assert backward.setdefault(y, x) == x, f"class {y} is two old classes"
        assert len(selectors) == len(selectors0), "a rewritten copy has other CSS"
        for x, y in zip(selectors0, selectors, strict=True):  # CSS maps as the markup does
            assert forward.setdefault(x, y) == y, f"selector .{x} mapped unlike its class"
            assert backward.setdefault(y, x) == x, f"selector .{y} is two old classes"
        sizes.append(len(copy))
    assert len(set(copies)) == len(copies), "two rewritten copies are the same"
    # no original tracking-token run of 8 characters or more survives in a copy
    literal = b"".join(t.pieces[::2])
    long_runs = [o for kind, o in t.keys if kind == "tok" and len(o) >= 8 and o not in literal]
    for copy in copies:
        survivors = [o for o in long_runs if o in copy]
        assert not survivors, f"{len(survivors)} tracking values survived a rewrite"
    return {
        "sites": dict(t.counts),
        "distinct_values": len(t.keys),
        "slots": len(t.slot_index),
        "bytes": len(t.original),
        "copy_bytes": sizes,
        "injected_nonce": t.injected_nonce,
    }


# --------------------------------------------------------------------------- --check


def render_cost_us(t: Template, k: int = 50) -> float:
    """Median microseconds of one render (a fresh mapping and the join)."""
    import statistics
    import time

    rng = random.Random(7)
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        t.render(rng)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    """Check every served page (base and changed variants) and print one JSON line.

    For each page: check_template on two rewritten copies; then the original and two copies
    go through `watcher extract FILE --target ID --config FILE` (watcher's CLI, so the check
    does not depend on watcher's module layout), whose snapshot text must be byte-identical,
    and whose page facts (sentences, characters, variant markers) must be equal.
    """
    import argparse
    import json
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from pages import POLICY_TARGET, load_sources

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--watcher", required=True, help="the watcher executable")
    parser.add_argument("--config", required=True, help="targets.yaml with the policy target")
    parser.add_argument("--target", default=POLICY_TARGET)
    args = parser.parse_args()

    pages = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="livelike-check-") as tmp:
        jobs = []
        for source in load_sources():
            short = source.name.rsplit("/", 1)[-1]
            row: dict[str, object] = {"page": source.name}
            for variant, html in (("base", source.html), ("changed", source.changed_html)):
                t = Template.compile(html.encode("utf-8"))
                try:
                    facts = check_template(t)
                except AssertionError as exc:
                    failures.append(f"{source.name} ({variant}): {exc}")
                    continue
                if variant == "base":
                    row.update(facts)
                    row["render_us"] = render_cost_us(t)
                    files = []
                    copies = [t.original, t.render(random.Random(11)), t.render(random.Random(12))]
                    for i, data in enumerate(copies):
                        path = Path(tmp) / f"{short}.{i}.html"
                        path.write_bytes(data)
                        files.append(path)
                    jobs.append((source.name, files))
            pages.append(row)

        def extract(path: Path) -> tuple[bytes, str, int]:
            proc = subprocess.run(
                [args.watcher, "extract", str(path), "--target", args.target,
                 "--config", args.config],
                capture_output=True,
            )  # fmt: skip
            return proc.stdout, proc.stderr.decode(errors="replace").strip(), proc.returncode

        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = {
                name: list(pool.map(extract, files)) for name, files in jobs
            }  # one name at a time; the pool runs its three files side by side
        for row in pages:
            outs = outputs.get(str(row["page"]))
            if not outs:
                continue
            texts = [o[0] for o in outs]
            notes = [o[1] for o in outs]
            row["snapshot_bytes"] = len(texts[0])
            row["snapshot_identical"] = all(t == texts[0] for t in texts)
            row["facts_identical"] = all(f == notes[0] for f in notes)
            row["extract_rc"] = [o[2] for o in outs]
            if any(o[2] != 0 for o in outs) or not texts[0].strip():
                failures.append(f"{row['page']}: watcher extract failed: {notes[0][:300]}")
            elif not row["snapshot_identical"]:
                failures.append(f"{row['page']}: snapshot text of a rewritten copy differs")
            elif not row["facts_identical"]:
                failures.append(f"{row['page']}: page facts differ: {notes}")
    print(json.dumps({"ok": not failures, "failures": failures, "pages": pages}))


if __name__ == "__main__":
    main()
