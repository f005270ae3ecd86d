"""The `aluqa` command line: parses arguments and hands each command to the stage that does it.

It sits above every stage (`embeddings`, `qa`, `ui`'s servers) and holds no logic of theirs:
`main` builds the parser, `corpus` and `build` hold the corpus commands, `errors` the one
table from error types to messages and exit codes.
"""

from ui.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
