"""The one error type users see: a clear one-line message, no traceback."""


class UnmaskError(Exception):
    """A problem with the user's input or setup, reported as one line and a non-zero exit."""


def quoted(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters: what a user typed is never echoed in full."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"
