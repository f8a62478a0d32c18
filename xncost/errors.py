"""The one exception type that the CLI turns into a single stderr line and exit code 2."""


class XncostError(ValueError):
    """Bad user input: an invalid shape, an unknown name, an unreadable or corrupt file."""
