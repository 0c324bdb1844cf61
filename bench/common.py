"""Shared helpers for levent's benchmarks: timing, repeats and ratio tables.

Every benchmark runs each implementation in the same process run, best of
``repeat`` timings with the garbage collector off, and reports ratios against
levent (``> 1`` means levent is faster).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


class ServerRunCpu:
    """CPU accounting of one load run against a server process, shared by the
    server benchmarks. The dataclass using it provides ``units`` (messages or
    requests) and the fields named below, all CPU figures in seconds."""

    __slots__ = ()
    seconds: float
    client_user: float
    client_sys: float
    server_user: float
    server_sys: float
    machine_busy: float  # every CPU's busy time over the run, all processes; < 0: unknown
    units: int  # a property of the subclass: the messages or requests of the run

    @property
    def rate(self) -> float:
        return self.units / self.seconds

    @property
    def other_cpu(self) -> float:
        """Share of one CPU taken by processes other than the server and the client."""
        if self.machine_busy < 0:
            return float("nan")
        ours = self.server_user + self.server_sys + self.client_user + self.client_sys
        return max(0.0, self.machine_busy - ours) / self.seconds

    def server_us(self, which: str = "total") -> float:
        """Server CPU microseconds per unit: ``user``, ``sys`` or ``total``."""
        cpu = {
            "user": self.server_user,
            "sys": self.server_sys,
            "total": self.server_user + self.server_sys,
        }[which]
        return cpu * 1e6 / self.units if self.units else float("nan")


@dataclass(frozen=True, slots=True)
class Row:
    """One implementation's result in one benchmark."""

    name: str
    seconds: float
    units: int
    unit_name: str

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else float("inf")


def best_of(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Run ``fn`` (which returns the work done) ``repeat`` times; the fastest time wins."""
    best = float("inf")
    units = 0
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            units = fn()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, elapsed)
    return best, units


def print_table(title: str, rows: list[Row], reference: str = "levent") -> None:
    """Print absolute rates and each row's speed relative to levent."""
    ref = next((r for r in rows if r.name == reference), None)
    print(f"\n## {title}")
    print(f"{'implementation':<22} {'seconds':>9} {'rate':>14}  {'levent is':>12}")
    for row in rows:
        if row.seconds != row.seconds:  # NaN: not available
            print(f"{row.name:<22} {'n/a':>9}")
            continue
        ratio = ""
        if ref is not None and row is not ref:
            ratio = f"{ref.rate / row.rate:>10.2f}x"
        print(f"{row.name:<22} {row.seconds:>9.3f} {row.rate:>10.0f} {row.unit_name}/s  {ratio}")
