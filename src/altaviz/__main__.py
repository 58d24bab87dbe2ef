"""`python -m altaviz` and the `altaviz` command: the CLI."""

import gc


def main() -> None:
    # The collector waits until the command's modules are loaded (altaviz.cli._loaded).
    gc.disable()
    from altaviz.cli import app

    app(prog_name="altaviz")


if __name__ == "__main__":
    main()
