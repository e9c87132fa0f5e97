"""The evidence: snapshots in git, the commit vocabulary, history, feeds and the outbox.

`store` reads and writes snapshot files, `git` makes commits (dates settable), `commits`
writes and parses what a commit says, `history` reads the record back, `feed` keeps the
Atom feeds and `outbox` the committed alert state. Everything that knows the repository's
layout lives in this package.
"""
