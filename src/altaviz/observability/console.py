"""Consoles for the command line: Rich output that does not wrap at 80 columns when piped.

Rich takes a terminal's width from the terminal; piped into a file or a CI log it assumes 80 and wraps
tables and long paths mid-word. Piped output gets a wide line instead, so each row stays one line.
"""

from rich.console import Console

# Width of piped output: wide enough for any table row the commands print.
PIPED_WIDTH = 400


def terminal_console(stderr: bool = False) -> Console:
    """A console printing text as written: no `:name:` emoji codes replaced (an alert's message or a
    path holding one stays as it is; nor is Rich's emoji table loaded, 12 ms of a command's imports)."""
    console = Console(stderr=stderr, emoji=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=PIPED_WIDTH, emoji=False)
    return console
