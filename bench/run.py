"""Run every levent benchmark in one process run: ``python bench/run.py [--quick] [--only NAME]``.

Each ``bench/bench_*.py`` module exposes ``main(argv) -> int`` and prints its
own tables of absolute figures and ratios measured side by side in this run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    parser.add_argument("--only", help="run only bench_NAME.py")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    status = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if args.only and name != f"bench_{args.only}":
            continue
        print(f"\n# {name}")
        module = importlib.import_module(name)
        status |= module.main(["--quick"] if args.quick else [])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
