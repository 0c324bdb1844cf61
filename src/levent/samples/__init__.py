"""libevent's sample programs (``sample/*.c``), ported to levent line by line.

Each sample is a module here that defines ``SAMPLE``, a :class:`Sample` naming
the command (``time-test``), its one-line summary, how it adds its options to
an ``argparse`` parser and the ``run(args) -> int`` that does the work. The
``levent`` command (``levent.cli``) builds one subcommand per entry of
:data:`SAMPLE_MODULES`; each module also runs on its own as
``python -m levent.samples.<module>``.

Adding a sample: write ``levent/samples/<name_with_underscores>.py`` with a
``SAMPLE`` and the three-line ``main`` every sample has, then append its module
name to :data:`SAMPLE_MODULES`. Modules are imported only when the CLI needs
them, so a sample that pulls in a heavy dependency costs nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["SAMPLE_MODULES", "Sample", "configure_logging", "load_samples"]

#: The sample modules, in the order ``levent --help`` lists them.
SAMPLE_MODULES: tuple[str, ...] = (
    "time_test",
    "signal_test",
    "event_read_fifo",
    "hello_world",
    "event_server",
    "echo_server",
    "proxy",
    "http_server",
    "ws_chat",
    "http_get",
    "dns",
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One runnable sample: its command name, summary, options and body."""

    name: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Give ``parser`` this sample's options and make it dispatch to ``run``."""
        self.add_arguments(parser)
        parser.set_defaults(_sample_run=self.run)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Parse ``argv`` (default ``sys.argv[1:]``) and run: ``python -m levent.samples.X``."""
        parser = argparse.ArgumentParser(
            prog=f"python -m levent.samples.{self.name.replace('-', '_')}",
            description=self.description or self.summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.configure(parser)
        args = parser.parse_args(argv)
        configure_logging()
        return self.run(args)


def configure_logging() -> None:
    """Show levent's messages on stderr, as libevent's default log callback does.

    Only when the program has no logging set up: a sample run as a program then
    prints ``EVENT_SHOW_METHOD``'s ``libevent using: epoll`` (an ``EVENT_LOG_MSG``,
    which is ``INFO`` and below what Python shows unconfigured) and warnings;
    an embedding program or a test harness keeps its own configuration.
    """
    if logging.getLogger().handlers:
        return
    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(name)s: %(message)s")
    logger = logging.getLogger("levent")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def load_samples() -> list[Sample]:
    """Import every module of :data:`SAMPLE_MODULES` and return their ``SAMPLE``."""
    samples = []
    for module_name in SAMPLE_MODULES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        sample = getattr(module, "SAMPLE", None)
        if not isinstance(sample, Sample):
            raise TypeError(f"{module.__name__} does not define SAMPLE = Sample(...)")
        samples.append(sample)
    return samples
