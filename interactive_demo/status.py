"""The status bar's text, without Tk: the latest message first, so that a short bar still shows it."""

ELLIPSIS = "\u2026"


def elide(text, max_chars):
    """``text`` cut to ``max_chars`` characters, ending in an ellipsis when cut (max_chars >= 1)."""
    text = " ".join(str(text).splitlines())  # one line
    if len(text) <= max_chars:
        return text
    return text[:max(0, max_chars - 1)].rstrip() + ELLIPSIS


def status_line(message, info_parts, max_chars):
    """(shown, full): the status bar text and its full form (for the tooltip / log).

    The message (an error or refusal, or what just happened) comes first, then the session info parts
    joined with ``"  |  "``; ``shown`` is ``full`` elided to ``max_chars``.
    """
    parts = ([" ".join(str(message).splitlines())] if message else []) + [p for p in info_parts if p]
    full = "  |  ".join(parts)
    return elide(full, max_chars), full
