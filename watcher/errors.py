"""Domain errors. Library code raises these; only the CLI turns them into exit codes.

WatcherError
├── ConfigError          bad targets.yaml; exit status 2
├── UsageError           a command asked for something that is not there; exit status 2
├── FetchError           network, HTTP status, size cap, redirect off http(s)
│   ├── BlockedError     login wall, browser notice, error page, title-only page
│   └── RegionMismatch   the page served is another region's variant
├── ExtractionError      the rules found nothing, or the extraction collapsed
├── StoreError           git or file-system trouble while recording
└── BusyError            another run holds the repository; exit status 3
"""

from __future__ import annotations


class WatcherError(Exception):
    """Base of every error watcher raises on purpose."""


class ConfigError(WatcherError):
    """The configuration or the command line is wrong. Holds every problem at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(WatcherError):
    """The command line asks for something that does not exist (a region, a repository)."""


class FetchError(WatcherError):
    """A page could not be fetched, or what came back cannot be vouched for."""

    status = "error"


class BlockedError(FetchError):
    """The server answered with a wall or an error page instead of the document."""

    status = "blocked"


class RegionMismatch(FetchError):
    """The page is another region's variant (for example the global text served to the EU)."""

    status = "region_mismatch"


class ExtractionError(WatcherError):
    """The extraction rules found nothing, or far less than before."""

    status = "error"


class StoreError(WatcherError):
    """Writing or committing a snapshot failed."""


class BusyError(WatcherError):
    """Another watcher run holds the repository's lock; this one did nothing."""
