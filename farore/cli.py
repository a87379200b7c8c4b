"""The ``farore`` command: a thin layer over the library, one subcommand group per noun.

Each group lives beside its library code and exposes ``register(subparsers)``; the chosen
subcommand's ``func(args)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from farore import compare_commands
from farore.dataset import commands as data_commands
from farore.train import commands as train_commands

#: Subcommand groups beside their library code: farore data, compare/matrix, train/export.
COMMAND_GROUPS = (data_commands, compare_commands, train_commands)


def run_benchmark(pytest_args: list[str]) -> int:
    """Run the benchmark suite through pytest, with the same options as ``pytest benchmarks/``."""
    import farore.suite

    return int(pytest.main([str(Path(farore.suite.__file__)), "-p", "no:cacheprovider", *pytest_args]))


def _eval(args: argparse.Namespace) -> int:
    return run_benchmark(args.pytest_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="farore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser(
        "eval",
        help="run the benchmark (options as for pytest benchmarks/: --model, --prompt-strategy, ...)",
        add_help=False,
    )
    evaluate.set_defaults(func=_eval)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "eval":
        args.pytest_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
