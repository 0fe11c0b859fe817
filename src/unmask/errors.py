"""The one error type users see: a clear one-line message, no traceback."""


class UnmaskError(Exception):
    """A problem with the user's input or setup, reported as one line and a non-zero exit."""
