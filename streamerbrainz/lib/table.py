"""Plain-text tables for the command-line listings (``players``, ``status``)."""

from streamerbrainz.lib.log import escape_char


def cell(value):
    """A value fit for one table cell: control characters shown, not obeyed."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else escape_char(ch) for ch in text) or "-"


def render(header, rows):
    """Columns padded to their widest cell, two spaces apart."""
    lines = [tuple(header)] + [tuple(cell(value) for value in row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
                     for line in lines)
