"""digest: build and send a daily news digest email."""

__version__ = "0.1.0"
