"""An update written as one equation across the screen, `W − lr·∇W = W′`: the
matrices side by side and aligned, or one under another when the screen is too narrow."""

from __future__ import annotations


class Equation:
    """Terms and operators in one row; stacked when the row does not fit the width."""

    def __init__(self, *pieces):
        self.pieces = [_piece(p) for p in pieces]

    def _row(self):
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        for _ in self.pieces:
            grid.add_column(vertical="middle", no_wrap=True)
        grid.add_row(*self.pieces)
        return grid

    def _choice(self, console, options):
        from rich.console import Group
        from rich.measure import Measurement

        row = self._row()
        natural = Measurement.get(console, options.update_width(100_000), row).maximum  # unclamped
        if natural <= options.max_width:
            return row
        return Group(*self.pieces)

    def __rich_console__(self, console, options):
        yield self._choice(console, options)

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self._choice(console, options))


def _piece(piece):
    if isinstance(piece, str):
        from rich.text import Text

        return Text(piece, style="bold")
    return piece
