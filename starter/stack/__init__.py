"""The embedded stack: supervisor, process management, up/down."""
