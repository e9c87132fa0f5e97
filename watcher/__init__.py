"""watcher: tells people when Meta changes what its privacy pages say about training AI."""

__version__ = "0.1.0"
