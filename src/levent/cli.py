"""The ``levent`` command: one subcommand per sample program (``levent.samples``).

``levent time-test -p`` runs ``levent/samples/time_test.py`` exactly as
``python -m levent.samples.time_test -p`` does; ``levent --help`` lists the
samples; ``levent --version`` prints levent's version and the libevent version
whose API it reproduces. The subcommands come from
``levent.samples.SAMPLE_MODULES``, so a new sample needs no change here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from levent import __version__, get_version
from levent.samples import configure_logging, load_samples

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with a subparser per sample."""
    parser = argparse.ArgumentParser(
        prog="levent",
        description="levent — libevent, rebuilt in Python. Runs libevent's sample programs.",
        epilog="'levent NAME --help' describes one sample and how it maps to the C original.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"levent {__version__} (libevent {get_version()} API)",
    )
    subparsers = parser.add_subparsers(title="samples", metavar="NAME", dest="sample")
    for sample in load_samples():
        sub = subparsers.add_parser(
            sample.name,
            help=sample.summary,
            description=sample.description or sample.summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sample.configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``levent [--version] NAME [options]``; return the exit status.

    argparse's own exits (``--help``, ``--version``, a usage error) become the
    return value too, so ``main`` never raises ``SystemExit``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "_sample_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    configure_logging()
    return run(args)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
