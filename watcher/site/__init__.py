"""The evidence site: what Meta's pages say today about AI training, per service and
region, with every recorded change, built as static files from the repository.

`build_site(config, snapshots, out)` writes it; `watcher site --out DIR` is the command.
`answers` reads the three questions out of a text, `reader` reads the git record in two
processes, `build` renders the pages from `templates/` with `static/style.css`.
"""

from __future__ import annotations

from .build import BuildReport, build_site

__all__ = ["BuildReport", "build_site"]
