"""A port of the tabwriter kubectl prints tables with, so kdiag's tables match kubectl's byte for byte.

kubectl (k8s.io/cli-runtime v0.36.3 pkg/printers/tabwriter.go) uses github.com/liggitt/tabwriter, a
fork of Go's text/tabwriter, configured as minwidth 6, tabwidth 4, padding 3, padchar ' ' and the
single flag RememberWidths (column widths survive a Flush). The algorithm is Go's "elastic
tabstops": cells are *terminated* by '\\t'; a column is a run of consecutive lines that all have a
cell in it; each such block is as wide as its widest cell plus padding (at least minwidth); the
text after a line's last tab is not part of any column and is never padded.

Differences from Go that cannot show: the port works on `str`, so a cell's width is its number of
code points (Go counts UTF-8 runes: the same thing), and Go's 0xff escape byte cannot occur in a
`str`, so escaped segments are not implemented. kubectl sets no HTML, AlignRight, Debug,
TabIndent or DiscardEmptyColumns flags, so neither are they; without DiscardEmptyColumns it does not
matter whether a cell ended in '\t' or '\v', so a cell is just its text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

KUBECTL_MIN_WIDTH = 6
# kubectl also passes tabwidth 4, which only matters when padding with tabs (it pads with spaces).
KUBECTL_PADDING = 3

_TERMINATORS = re.compile(r"[\t\v\n\f]")
_LINE_BREAK = re.compile(r"[\f\n\r]")


class TabWriter:
    """Buffers written text and emits it aligned on `flush()`; output accumulates in `getvalue()`."""

    def __init__(
        self,
        min_width: int = KUBECTL_MIN_WIDTH,
        padding: int = KUBECTL_PADDING,
        pad_char: str = " ",
        remember_widths: bool = True,
    ) -> None:
        if pad_char == "\t":
            # Go then pads with tabs and needs a tabwidth; kubectl never does this.
            raise ValueError("tab padding is not supported")
        self._min_width = min_width
        self._padding = padding
        self._pad_char = pad_char
        self._remember_widths = remember_widths
        self._max_widths: list[int] = []  # per column, kept across flushes (RememberWidths)
        self._out: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self._lines: list[list[str]] = [[]]
        self._cell = ""  # text of the current, not yet terminated cell
        self._widths: list[int] = []

    def write(self, text: str) -> None:
        start = 0
        for match in _TERMINATORS.finditer(text):
            terminator = match.group()
            self._cell += text[start : match.start()]
            start = match.end()
            line = self._lines[-1]
            line.append(self._cell)
            self._cell = ""
            if terminator in "\n\f":
                self._lines.append([])
                # A one-cell line cannot affect the alignment of later lines, so Go flushes
                # there; '\f' always flushes.
                if terminator == "\f" or len(line) == 1:
                    self.flush()
        self._cell += text[start:]

    def write_row(self, cells: Sequence[str]) -> None:
        """Same as write("\t".join(cells) + "\n"), without re-scanning the text when that is safe."""
        joined = "\t".join(cells)
        if self._cell or self._lines[-1] or joined.count("\t") != len(cells) - 1 or "\v" in joined:
            self.write(joined + "\n")
            return
        line = list(cells) or [""]
        self._lines[-1] = line
        self._lines.append([])
        if len(line) == 1:
            self.flush()

    def flush(self) -> None:
        if self._cell:
            self._lines[-1].append(self._cell)
            self._cell = ""
        self._format(0, len(self._lines))
        self._reset()

    def getvalue(self) -> str:
        return "".join(self._out)

    # -- Go's format/writeLines ------------------------------------------------------------------

    def _format(self, line0: int, line1: int) -> None:
        """Format lines [line0, line1): find each block of the next column, fix its width, recurse."""
        column = len(self._widths)
        lines = self._lines
        this = line0
        while this < line1:
            # The last cell of a line is not tab-terminated text and belongs to no column.
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            self._write_lines(line0, this)
            line0 = this
            width = self._min_width
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self._padding)
                this += 1
            if self._remember_widths:
                width = self._remembered(column, width)
            self._widths.append(width)
            self._format(line0, this)
            self._widths.pop()
            line0 = this
        self._write_lines(line0, line1)

    def _remembered(self, column: int, width: int) -> int:
        """RememberWidths: a column never gets narrower than it was before a flush."""
        known = self._max_widths
        if len(known) < column:
            known.extend(self._widths[len(known) :])
        if len(known) == column:
            known.append(width)
        elif known[column] > width:
            width = known[column]
        else:
            known[column] = width
        return width

    def _write_lines(self, line0: int, line1: int) -> None:
        out = self._out
        widths = self._widths
        n_widths = len(widths)
        pad = self._pad_char
        last = len(self._lines) - 1
        for index in range(line0, line1):
            for j, cell in enumerate(self._lines[index]):
                out.append(cell)
                if j < n_widths:
                    out.append(pad * (widths[j] - len(cell)))
            # The final buffered line has no line break yet (it is empty after a flush's
            # terminating cell, so nothing is pending to write for it).
            if index != last:
                out.append("\n")


def kubectl_cell(value: str) -> str:
    """A cell as kubectl's printTable writes it: cut at the first line break (+ "..."), ESC escaped."""
    cut = _LINE_BREAK.search(value)
    if cut is not None:
        value = value[: cut.start()] + "..."
    # cli-runtime's terminalEscaper (against terminal-escape injection through object fields) also
    # turns CR into "\\r", but no CR survives the cut above.
    if "\x1b" in value:
        value = value.replace("\x1b", "^[")
    return value


def format_table(header: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    """The text `kubectl get` prints for these cells: tab-joined lines through a kubectl tabwriter.

    Like kubectl, a table without rows prints nothing at all, header included.
    """
    writer = TabWriter()
    pending_header = header
    for row in rows:
        if pending_header is not None:
            writer.write_row(pending_header)
            pending_header = None
        writer.write_row([kubectl_cell(cell) for cell in row])
    writer.flush()
    return writer.getvalue()
