"""Build hook: compile levent's hot modules with mypyc (DESIGN.md §3).

The metadata lives in pyproject.toml; this file only adds the compiled
extensions. A regular install (``pip install .``) compiles them; an editable
install (``pip install -e .``) stays pure Python, so that edited sources take
effect without a rebuild. ``LEVENT_COMPILE=1`` compiles an editable install
too; ``LEVENT_PURE_PYTHON=1`` never compiles. Where mypyc cannot build (no C
compiler, not CPython), the install falls back to the pure-Python package.
"""

from __future__ import annotations

import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The reactor's hot paths. Modules that only configure or report (constants,
# log, debug, thread, util, resources, cli, samples) stay interpreted.
COMPILED_MODULES = [
    "src/levent/base.py",
    "src/levent/buffer.py",
    "src/levent/event.py",
    "src/levent/evmap.py",
    "src/levent/timers.py",
    "src/levent/signals.py",
    "src/levent/backends/__init__.py",
    "src/levent/backends/epoll.py",
    "src/levent/backends/poll.py",
    "src/levent/backends/select.py",
    "src/levent/listener.py",
    "src/levent/watch.py",
    "src/levent/bufferevent/core.py",
    "src/levent/bufferevent/sock.py",
    "src/levent/bufferevent/pair.py",
    "src/levent/bufferevent/filter.py",
    "src/levent/bufferevent/ssl.py",
    "src/levent/bufferevent/ratelim.py",
    "src/levent/http/headers.py",
    "src/levent/http/request.py",
    "src/levent/http/protocol.py",
    "src/levent/http/server.py",
]

_BUILD_COMMANDS = {"bdist_wheel", "build", "build_ext", "install"}


def _want_compiled() -> bool:
    if os.environ.get("LEVENT_PURE_PYTHON") == "1":
        return False
    if platform.python_implementation() != "CPython":
        return False
    if os.environ.get("LEVENT_COMPILE") == "1":
        return True
    return bool(_BUILD_COMMANDS.intersection(sys.argv))


def _ext_modules() -> list[object]:
    if not _want_compiled():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("levent: mypyc is not available; installing pure Python", file=sys.stderr)
        return []
    modules = [path for path in COMPILED_MODULES if os.path.exists(path)]
    try:
        return list(mypycify(modules, opt_level="3", group_name="levent"))
    except (Exception, SystemExit) as exc:  # a type error or a missing import: stay pure
        print(f"levent: mypyc could not compile ({exc!r}); installing pure Python", file=sys.stderr)
        return []


class _OptionalBuildExt(build_ext):
    """Compile if possible; on a compiler failure, keep the pure-Python modules."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure means "stay pure"
            print(
                f"levent: compiling with mypyc failed ({exc}); installing pure Python",
                file=sys.stderr,
            )
            self.extensions = []


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _OptionalBuildExt})
