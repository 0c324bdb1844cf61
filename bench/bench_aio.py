"""asyncio event loops side by side: levent.aio against asyncio's default loop and uvloop.

The same asyncio servers (``bench/servers/``), each started three times, with
``--loop asyncio``, ``--loop uvloop`` and ``--loop levent`` (``asyncio.Runner``
with ``loop_factory=levent.aio.new_event_loop``), every server process pinned to
CPU 0 and the load generator to CPU 1, as in bench_echo and bench_http:

* echo with an asyncio Protocol (``asyncio_protocol.py``) and with asyncio
  Streams (``asyncio_streams.py``): bench_echo's C ping-pong client
  (``bench/c/echo_client.c``) with 1 and 100 connections x 64 B and 1 KiB
  messages; messages/s;
* HTTP/1.1 keep-alive ``GET /`` -> ``Hello, World!`` with ``wrk``: the raw
  asyncio Protocol + httptools server (``asyncio_httptools.py``) at 1 and 100
  connections, and aiohttp.web (``aiohttp_hello.py``, if aiohttp is installed)
  at 100; requests/s and wrk's latency percentiles.

Per cell, one table as in the other server benchmarks: the rate, the *server's*
CPU microseconds per message or request (user, system), the server's and the
client's CPU share and what every other process took meanwhile (a run where
that passes ``MAX_OTHER`` of a CPU is repeated); "levent is" compares levent.aio
with each loop. Every server is checked first (echoes byte for byte; for HTTP
both routes, ``Content-Length``, ``Content-Type``, keep-alive). Then a summary,
one line per cell: the three loops' rates and levent.aio's rate over asyncio's
(the target: >= 1.00x) and over uvloop's. A loop that cannot be imported
(uvloop, or levent.aio) is skipped with the reason, and so is a server whose
package is missing (httptools, aiohttp) or a load generator that is (wrk).
``--quick``: 1 s per cell, one run; about a minute in all (a full run, 3 s echo /
4 s wrk x 3 interleaved runs per cell, best of 3, about 6.5 minutes).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench_echo import (
    BUILD,
    SERVERS_DIR,
    Server,
    ServerSpec,
    compile_c,
    run_client,
    running,
)
from bench_echo import C_DIR as ECHO_C_DIR
from bench_echo import Sample as EchoSample
from bench_http import (
    BIG_NAME,
    WARMUP,
    WRK,
    WRK_LUA,
    Cell,
    check_server,
    levent_status,
    run_wrk,
)
from bench_http import Sample as HttpSample

Sample = EchoSample | HttpSample
Result = Sample | str  # a measured sample, or why there is none

MAX_OTHER = 0.10  # a run where other processes took more than this share of a CPU ...
RETRIES = 2  # ... is run again, at most this many times
TARGET = 1.0  # levent.aio's rate over asyncio's, in every cell
REFERENCE = "levent.aio"
BIG_SIZE = 64 * 1024  # /big.bin, only for the servers' check (not measured here)


@dataclass(frozen=True, slots=True)
class Loop:
    """One event loop: its column name, the servers' ``--loop`` value, why it is skipped."""

    name: str
    option: str
    skip: str = ""
    detail: str = ""  # version and loop class, for the header


@dataclass(frozen=True, slots=True)
class Case:
    """One cell: a number of connections and, for echo, a message size."""

    connections: int
    size: int = 0  # echo message bytes; 0 for HTTP (GET /)

    def label(self) -> str:
        conns = f"{self.connections} conn" + ("s" if self.connections != 1 else "")
        return f"{conns} x {self.size} B" if self.size else conns


@dataclass(frozen=True, slots=True)
class Suite:
    """One server script run on every loop, and the cells it is measured in."""

    name: str  # short, for the summary
    kind: str  # "echo" or "http"
    script: str  # in bench/servers/
    cases: tuple[Case, ...]
    skip: str = ""

    def title(self, case: Case) -> str:
        unit = "connection" if case.connections == 1 else "connections"
        if self.kind == "echo":
            return f"{self.name}: {case.connections} {unit} x {case.size} B messages, ping-pong"
        return f"{self.name}: GET / with {case.connections} keep-alive {unit}"


# -- what is available -----------------------------------------------------------------

# Run in the servers' interpreter and directory: which loop ``--loop`` gives, and that
# it runs a coroutine under asyncio.Runner, as the servers start it.
_LOOP_CHECK = r"""
import asyncio, sys
which = sys.argv[1]
if which == "uvloop":
    import uvloop
    factory, version = uvloop.new_event_loop, "uvloop " + uvloop.__version__
elif which == "levent":
    import levent, levent.aio
    build = "compiled with mypyc" if levent.COMPILED else "pure Python"
    factory, version = levent.aio.new_event_loop, f"levent {levent.__version__} ({build})"
else:
    factory, version = asyncio.new_event_loop, "Python " + sys.version.split()[0]
with asyncio.Runner(loop_factory=factory) as runner:
    loop = runner.get_loop()
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(f"{type(loop)!r} is not an asyncio.AbstractEventLoop")
    runner.run(asyncio.sleep(0.001))
cls = type(loop)
print(f"{version}, {cls.__module__}.{cls.__qualname__}")
"""


def check_loop(name: str, option: str) -> Loop:
    """``Loop`` for ``--loop option``, skipped (with the error's last line) if it fails."""
    BUILD.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _LOOP_CHECK, option],
        capture_output=True,
        text=True,
        cwd=BUILD,  # as the servers run: the installed levent, not the checkout's src/
        timeout=60,
        check=False,
    )
    if proc.returncode == 0:
        return Loop(name, option, detail=proc.stdout.strip())
    lines = proc.stderr.strip().splitlines()
    reason = lines[-1] if lines else f"exit status {proc.returncode}"
    if reason.startswith("ModuleNotFoundError"):
        reason = f"{name} is not installed ({reason})"
    return Loop(name, option, skip=reason)


def loops() -> list[Loop]:
    return [
        check_loop("asyncio", "asyncio"),
        check_loop("uvloop", "uvloop"),
        check_loop(REFERENCE, "levent"),
    ]


def suites(wrk_skip: str) -> list[Suite]:
    def missing(module: str) -> str:
        return "" if importlib.util.find_spec(module) else f"{module} is not installed"

    echo = tuple(Case(c, s) for c in (1, 100) for s in (64, 1024))
    return [
        Suite("echo Protocol", "echo", "asyncio_protocol.py", echo),
        Suite("echo Streams", "echo", "asyncio_streams.py", echo),
        Suite(
            "HTTP httptools",
            "http",
            "asyncio_httptools.py",
            (Case(1), Case(100)),
            wrk_skip or missing("httptools"),
        ),
        Suite(
            "HTTP aiohttp", "http", "aiohttp_hello.py", (Case(100),), wrk_skip or missing("aiohttp")
        ),
    ]


def build_client() -> Path:
    """bench_echo's C load generator, built with ``cc -O2`` if it is not up to date."""
    client = BUILD / "echo_client"
    error = compile_c(ECHO_C_DIR / "echo_client.c", client)
    if error:
        raise RuntimeError(f"cannot build bench/c/echo_client.c:\n{error}")
    return client


def specs_for(suite: Suite, available: list[Loop], docroot: Path) -> dict[str, ServerSpec]:
    """The suite's server on every available loop, by loop name."""
    argv: tuple[str, ...] = (sys.executable, str(SERVERS_DIR / suite.script), "0")
    if suite.kind == "http":
        argv += (str(docroot),)
    stem = suite.script.removesuffix(".py")
    return {
        loop.name: ServerSpec(f"aio_{stem}_{loop.option}", (*argv, "--loop", loop.option))
        for loop in available
    }


# -- checking and measuring -----------------------------------------------------------------


def check_echo(server: Server) -> None:
    """Three messages echoed byte for byte on one connection, then EOF for EOF."""
    payload = os.urandom(1024)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for size in (1, 64, 1024):
                sock.sendall(payload[:size])
                got = b""
                while len(got) < size:
                    chunk = sock.recv(size - len(got))
                    if not chunk:
                        raise RuntimeError(f"EOF after {len(got)} of {size} echoed bytes")
                    got += chunk
                if got != payload[:size]:
                    raise RuntimeError(f"wrong echo of a {size} B message")
            sock.shutdown(socket.SHUT_WR)
            if sock.recv(1) != b"":
                raise RuntimeError("data instead of EOF after the client's EOF")
    except OSError as exc:
        raise RuntimeError(f"check: {exc!r}; server {server.tail()}") from exc


@dataclass(frozen=True, slots=True)
class Plan:
    """How every cell is run."""

    client: Path  # the C echo client
    script: Path  # wrk's Lua reporting hook
    docroot: Path
    big: bytes  # DOCROOT/big.bin, for the HTTP servers' check
    echo_seconds: int
    echo_warmup: float
    http_seconds: int
    repeat: int
    quick: bool
    server_cpu: int | None
    client_cpu: int | None


def measure(suite: Suite, case: Case, server: Server, plan: Plan, warm: bool) -> Sample:
    """One run (after wrk's warm-up if ``warm``), again while other processes take CPU."""
    cpu = plan.client_cpu
    cell = Cell("", "/", case.connections)
    if warm and suite.kind == "http":
        run_wrk(server, cell, WARMUP, cpu, plan.script)
    for _ in range(RETRIES + 1):
        sample: Sample
        if suite.kind == "echo":
            sample = run_client(
                plan.client,
                server,
                case.connections,
                case.size,
                plan.echo_seconds,
                plan.echo_warmup,
                cpu,
            )
        else:
            sample = run_wrk(server, cell, plan.http_seconds, cpu, plan.script)
        if not sample.other_cpu > MAX_OTHER:
            break
    return sample


def check(suite: Suite, server: Server, plan: Plan) -> None:
    if suite.kind == "echo":
        check_echo(server)
    else:
        check_server(server, plan.big)


# cell label, unit, best result per loop, levent.aio's rate over asyncio's in each round
SummaryRow = tuple[str, str, dict[str, Result], list[float]]


def _round_ratio(this_round: dict[str, Sample]) -> float | None:
    ref, other = this_round.get(REFERENCE), this_round.get("asyncio")
    return None if ref is None or other is None or not other.rate else ref.rate / other.rate


def run_suite(suite: Suite, all_loops: list[Loop], plan: Plan) -> tuple[list[SummaryRow], int]:
    """Every cell of ``suite`` on every loop, one table each: (summary rows, failures)."""
    unit = "msgs/s" if suite.kind == "echo" else "req/s"
    if suite.skip:
        skipped: dict[str, Result] = {loop.name: suite.skip for loop in all_loops}
        return [(f"{suite.name}, {c.label()}", unit, skipped, []) for c in suite.cases], 0
    failures = 0
    summary: list[SummaryRow] = []
    specs = specs_for(suite, [loop for loop in all_loops if not loop.skip], plan.docroot)
    with running(list(specs.values()), plan.server_cpu) as started:
        base: dict[str, Result] = {loop.name: loop.skip for loop in all_loops if loop.skip}
        for name, spec in specs.items():
            server = started.get(spec.name)
            if server is None:
                base[name] = "server did not start"
                failures += 1
                continue
            try:
                check(suite, server, plan)
            except RuntimeError as exc:
                print(f"!! {suite.name} on {name}: {exc}")
                base[name] = "failed the check"
                failures += 1

        for case in suite.cases:
            best = dict(base)
            round_ratios: list[float] = []
            for attempt in range(plan.repeat):  # round-robin: drift hits every loop alike
                this_round: dict[str, Sample] = {}
                for name, spec in specs.items():
                    server = started.get(spec.name)
                    if isinstance(best.get(name), str):
                        continue
                    if server is None or not server.alive():
                        best[name] = "server not running"
                        failures += 1
                        continue
                    warm = attempt == 0 and (not plan.quick or case is suite.cases[0])
                    try:
                        sample = measure(suite, case, server, plan, warm)
                    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
                        best[name] = f"failed: {exc}"
                        failures += 1
                        continue
                    this_round[name] = sample
                    previous = best.get(name)
                    if not isinstance(previous, Sample) or sample.rate > previous.rate:
                        best[name] = sample
                ratio = _round_ratio(this_round)
                if ratio is not None:
                    round_ratios.append(ratio)
            rows = [(loop.name, best.get(loop.name, "not run")) for loop in all_loops]
            print_cell(suite.title(case), suite.kind == "http", rows)
            summary.append((f"{suite.name}, {case.label()}", unit, dict(rows), round_ratios))
            sys.stdout.flush()
    return summary, failures


# -- output ------------------------------------------------------------------------------------


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value == value and value not in (0.0, float("inf")) else "-"


def _us(value: float) -> str:
    return f"{value:.0f}us" if value < 10_000 else f"{value / 1000:.1f}ms"


def print_cell(title: str, http: bool, rows: list[tuple[str, Result]]) -> None:
    """One cell's table: absolute figures, then levent.aio's ratio against each loop."""
    ref = next((s for n, s in rows if n == REFERENCE and not isinstance(s, str)), None)
    unit = "req/s" if http else "msgs/s"
    print(f"\n## {title}")
    print(
        f"{'loop':<11} {unit:>8} {'levent is':>9}"
        + (f" {'p50':>7} {'p99':>7}" if http else "")
        + f" {'srv usr':>8} {'srv sys':>8} {'srv tot':>8} {'levent is':>9}"
        f" {'srv CPU':>7} {'cli CPU':>7} {'other':>5}" + (f" {'errors':>6}" if http else "")
    )
    for name, sample in rows:
        if isinstance(sample, str):
            print(f"{name:<11} {'n/a':>8}  ({sample})")
            continue
        fast = cheap = ""
        if ref is not None and sample is not ref:
            fast = _ratio(ref.rate / sample.rate)
            cheap = _ratio(sample.server_us() / ref.server_us())
        server_cpu = (sample.server_user + sample.server_sys) / sample.seconds
        client_cpu = (sample.client_user + sample.client_sys) / sample.seconds
        latency = errors = ""
        if isinstance(sample, HttpSample):
            latency = f" {_us(sample.p50_us):>7} {_us(sample.p99_us):>7}"
            errors = f" {sample.errors:>6}"
        print(
            f"{name:<11} {sample.rate:>8.0f} {fast:>9}{latency}"
            f" {sample.server_us('user'):>8.1f} {sample.server_us('sys'):>8.1f}"
            f" {sample.server_us():>8.1f} {cheap:>9}"
            f" {server_cpu:>7.0%} {client_cpu:>7.0%} {sample.other_cpu:>5.0%}{errors}"
        )
    busy = [n for n, s in rows if not isinstance(s, str) and s.other_cpu > MAX_OTHER]
    if busy:
        print(
            f"!! other processes took more than {MAX_OTHER:.0%} of a CPU even after {RETRIES}"
            f" retries: {', '.join(busy)}; those figures are unreliable"
        )


def print_summary(loop_names: list[str], rows: list[SummaryRow]) -> None:
    """One line per cell: each loop's rate, then levent.aio's rate over the other loops'."""
    others = [n for n in loop_names if n != REFERENCE]
    print(f"\n## summary: rates, and {REFERENCE}'s rate over each loop's (> 1.00x: faster)")
    print(
        f"{'cell':<33} {'unit':>6}"
        + "".join(f" {n:>10}" for n in loop_names)
        + "".join(f" {f'{REFERENCE} / {n}':>21}" for n in others)
        + "   each round vs asyncio"
    )
    met = total = 0
    for label, unit, results, round_ratios in rows:
        line = f"{label:<33} {unit:>6}"
        for name in loop_names:
            result = results.get(name, "not run")
            line += f" {'n/a':>10}" if isinstance(result, str) else f" {result.rate:>10.0f}"
        ref = results.get(REFERENCE)
        for name in others:
            other = results.get(name)
            if ref is None or isinstance(ref, str) or other is None or isinstance(other, str):
                line += f" {'-':>21}"
                continue
            ratio = ref.rate / other.rate
            mark = ""
            if name == "asyncio":
                total += 1
                met += ratio >= TARGET
                mark = " met" if ratio >= TARGET else " NOT met"
            line += f" {_ratio(ratio) + mark:>21}"
        if len(round_ratios) > 1:
            ordered = sorted(round_ratios)
            line += f"   {ordered[0]:.2f}-{ordered[-1]:.2f}x, median {_median(ordered):.2f}x"
        print(line)
    result = f"met in {met} of {total} cells" if total else f"n/a ({REFERENCE} not measured)"
    print(f"target: {REFERENCE} >= {TARGET:.2f}x asyncio in every cell: {result}")
    print(
        "(the target is judged on each loop's best run; 'each round' is levent.aio's rate over\n"
        "asyncio's within one round of back-to-back runs: its spread shows this machine's noise)"
    )


def _median(ordered: list[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s per cell, one run")
    parser.add_argument("--seconds", type=int, help="timed window per run (whole seconds)")
    parser.add_argument("--repeat", type=int, help="runs per cell, the highest rate wins")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    echo_seconds = args.seconds or (1 if args.quick else 3)
    http_seconds = args.seconds or (1 if args.quick else 4)
    echo_warmup = 0.25 if args.quick else 0.5

    if not sys.platform.startswith("linux"):
        print("bench_aio needs Linux (epoll, /proc, sched_setaffinity); skipped")
        return 0
    client = build_client()
    wrk = shutil.which(WRK)
    wrk_skip = "" if wrk else "wrk is not installed (apt-get install wrk)"
    wrk_version = "wrk not installed"
    if wrk:
        version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (version.stdout or version.stderr).split(" Copyright")[0].strip()

    all_loops = loops()
    all_suites = suites(wrk_skip)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = None
    client_cpu: int | None = None
    if len(cpus) >= 2 and not args.no_pin:
        server_cpu, client_cpu = cpus[0], cpus[1]

    print(levent_status()[0])
    for loop in all_loops:
        if loop.skip:
            print(f"-- {loop.name}: skipped: {loop.skip}")
        else:
            print(f"loop {loop.name}: {loop.detail}")
    for suite in all_suites:
        if suite.skip:
            print(f"-- {suite.name}: skipped: {suite.skip}")
    pinning = (
        f"servers on CPU {server_cpu}, load generators on CPU {client_cpu}"
        if server_cpu is not None
        else "NOT pinned" + ("" if args.no_pin else " (fewer than 2 CPUs available)")
    )
    runs = "one run" if repeat == 1 else f"best of {repeat} interleaved runs"
    warm = "its first cell" if args.quick else "each cell"
    print(
        f"echo: bench/c/echo_client.c ping-pong, {echo_seconds} s per run after {echo_warmup:g} s"
        f" warm-up; HTTP: {wrk_version} -t1 --latency, keep-alive, {http_seconds} s per run, a"
        f" {WARMUP} s warm-up before {warm} of each server; {runs}; {pinning}"
    )
    print(
        "msgs/s, req/s: echoes / responses completed; p50/p99: wrk's latency percentiles;\n"
        "srv usr/sys/tot: server CPU microseconds per message or request; 'levent is' =\n"
        f"{REFERENCE}'s rate over the row's, then the row's CPU per unit over {REFERENCE}'s\n"
        f"(both > 1.00x when {REFERENCE} is better); srv/cli CPU: share of one CPU used by the\n"
        "server / the load generator (100% = saturated); other: CPU taken meanwhile by every\n"
        f"other process; a run with more than {MAX_OTHER:.0%} is repeated up to {RETRIES} times;"
        " errors: wrk's\nsocket errors and non-2xx/3xx responses."
    )
    sys.stdout.flush()

    failures = 0
    summary: list[SummaryRow] = []
    with tempfile.TemporaryDirectory(prefix="levent-bench-aio-") as tmp:
        docroot = Path(tmp)
        big = os.urandom(BIG_SIZE)
        (docroot / BIG_NAME).write_bytes(big)
        script = BUILD / "wrk_report.lua"
        BUILD.mkdir(exist_ok=True)
        script.write_text(WRK_LUA)
        plan = Plan(
            client=client,
            script=script,
            docroot=docroot,
            big=big,
            echo_seconds=echo_seconds,
            echo_warmup=echo_warmup,
            http_seconds=http_seconds,
            repeat=repeat,
            quick=args.quick,
            server_cpu=server_cpu,
            client_cpu=client_cpu,
        )
        for suite in all_suites:
            rows, failed = run_suite(suite, all_loops, plan)
            summary += rows
            failures += failed
    print_summary([loop.name for loop in all_loops], summary)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
