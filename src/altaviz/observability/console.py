"""Consoles for the command line: Rich output that does not wrap at 80 columns when piped.

Rich takes a terminal's width from the terminal; piped into a file or a CI log it assumes 80 and wraps
tables and long paths mid-word. Piped output gets a wide line instead, so each row stays one line.
"""

from rich.console import Console

# Width of piped output: wide enough for any table row the commands print.
PIPED_WIDTH = 400


def terminal_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console
