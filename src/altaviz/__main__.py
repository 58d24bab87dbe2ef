"""`python -m altaviz` runs the CLI."""

from altaviz.cli import app

app(prog_name="altaviz")
