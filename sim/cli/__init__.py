"""The ``pam`` command line: one entry point (``app``), one module per command group.

Every subcommand prints readable text by default and JSON with ``--json``.
Bad input exits with status 2 and one line naming the field and the value.
A command's module is imported only when that command runs.
"""

from sim.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
