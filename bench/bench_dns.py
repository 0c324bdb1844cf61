"""DNS lookups against one local server: levent's resolver vs dnspython and aiodns (c-ares).

One DNS server (``bench/servers/dns_responder.py``, levent's ``DnsServerPort``
answering every A question with 10.0.0.1) runs in its own process pinned to
CPU 0; the three clients run one after another in this process, pinned to
CPU 1, all pointed at that server over UDP on 127.0.0.1:

* levent: ``DnsBase(base, 0)`` (no resolv.conf, no search list) with the
  server added by ``nameserver_ip_add``, ``max-inflight`` raised to the
  concurrency, ``resolve_ipv4``; driven by ``EventBase.dispatch``. Its
  0x20 case randomisation stays on (libevent's default; the server echoes the
  question's case); ``--no-randomize-case`` turns it off. ``resolve_ipv4``
  never consults ``DnsBase``'s cache (only ``getaddrinfo`` does).
* dnspython: ``dns.asyncresolver.Resolver(configure=False)``, one nameserver and
  port, no cache, ``await resolve(name, "A", search=False)``.
* aiodns: ``aiodns.DNSResolver(nameservers=["127.0.0.1:PORT"])``,
  ``await query_dns(name, "A")`` (c-ares, which pycares 5 drives from its own
  thread, on the same CPU).

Each run makes a fresh resolver, does ``--warmup`` lookups untimed, then
``--lookups`` timed ones with ``--concurrency`` in flight (levent: a new lookup
started from each callback; asyncio: that many worker tasks). Every name is
distinct (``h{i}.r{run}.{client}.bench.test``) so no cache — c-ares has one —
can answer. Per client, best of ``--repeat`` runs (each metric on its own):
lookups/s over the wall time, client CPU µs per lookup (``time.process_time``
over the timed window, so all threads), the server's CPU µs per lookup and
busy share of its CPU (``/proc/PID/stat``), the CPU other processes took
meanwhile (``/proc/stat``; a run where they took over 10 % of a CPU is done
again, up to 3 times, as a busy machine skews everything), failures summed
over all kept runs.
Server busy near 100 % means the server, not the client, set the rate.
Ratios: ``> 1`` means levent is better (faster, or less CPU).
``--quick``: 2,000 lookups, one run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import levent
from levent.dns import DnsBase

HERE = Path(__file__).resolve().parent
SERVER = HERE / "servers" / "dns_responder.py"
SERVER_CPU = 0
CLIENT_CPU = 1
STARTUP_TIMEOUT = 15.0
TIMEOUT = 5.0  # per-lookup timeout of every client
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_OTHER = 0.10  # a run where other processes took more than this share of a CPU ...
RETRIES = 3  # ... is run again, at most this many times


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run of one client."""

    lookups: int
    failures: int
    seconds: float
    client_cpu: float
    server_cpu: float
    machine_busy: float  # every CPU's busy seconds over the run, all processes

    @property
    def other_cpu(self) -> float:
        """Share of one CPU taken by processes other than this one and the server."""
        return max(0.0, self.machine_busy - self.client_cpu - self.server_cpu) / self.seconds

    @property
    def rate(self) -> float:
        return self.lookups / self.seconds

    @property
    def client_us(self) -> float:
        return self.client_cpu * 1e6 / self.lookups

    @property
    def server_us(self) -> float:
        return self.server_cpu * 1e6 / self.lookups

    @property
    def server_busy(self) -> float:
        return self.server_cpu / self.seconds


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``: all but idle, iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Meter:
    """Wall, own CPU and server CPU between ``start`` and ``stop``."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.wall = self.cpu = self.server = self.machine = 0.0

    def start(self) -> None:
        self.machine = machine_busy()
        self.server = proc_cpu(self.pid)
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def stop(self, lookups: int, failures: int) -> Run:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        server = proc_cpu(self.pid) - self.server
        machine = machine_busy() - self.machine
        return Run(lookups, failures, wall, cpu, server, machine)


def names(tag: str, count: int) -> list[str]:
    return [f"h{i}.{tag}.bench.test" for i in range(count)]


# -- clients ---------------------------------------------------------------------------


def run_levent(
    port: int, warm: list[str], timed: list[str], conc: int, meter: Meter, randomize_case: bool
) -> Run:
    base = levent.EventBase()
    dns = DnsBase(base, 0)
    dns.nameserver_ip_add(f"127.0.0.1:{port}")
    dns.set_option("max-inflight:", str(max(conc, 64)))
    dns.set_option("timeout:", str(TIMEOUT))
    if not randomize_case:
        dns.set_option("randomize-case:", "0")
    resolve = dns.resolve_ipv4

    def batch(todo: list[str]) -> tuple[int, int]:
        it = iter(todo)
        state = [0, 0]  # done, failures
        total = len(todo)

        def cb(result: int, _type: int, count: int, _ttl: int, _addrs: object, _arg: object):
            state[0] += 1
            if result != 0 or count != 1:
                state[1] += 1
            name = next(it, None)
            if name is not None:
                resolve(name, 0, cb, None)
            elif state[0] == total:
                base.loopexit()

        for _ in range(min(conc, total)):
            resolve(next(it), 0, cb, None)
        base.dispatch()
        return state[0], state[1]

    batch(warm)
    meter.start()
    done, failures = batch(timed)
    run = meter.stop(done, failures)
    dns.free()
    base.free()
    return run


async def _workers(lookup: Callable[[str], object], todo: list[str], conc: int) -> tuple[int, int]:
    it = iter(todo)
    failures = 0
    done = 0

    async def worker() -> None:
        nonlocal failures, done
        for name in it:
            try:
                await lookup(name)  # type: ignore[misc]
            except Exception:
                failures += 1
            done += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    return done, failures


def run_dnspython(port: int, warm: list[str], timed: list[str], conc: int, meter: Meter) -> Run:
    import dns.asyncresolver

    async def main() -> Run:
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = ["127.0.0.1"]
        res.port = port
        res.timeout = TIMEOUT
        res.lifetime = TIMEOUT
        res.cache = None

        def lookup(name: str):
            return res.resolve(name, "A", search=False)

        await _workers(lookup, warm, conc)
        meter.start()
        done, failures = await _workers(lookup, timed, conc)
        return meter.stop(done, failures)

    return asyncio.run(main())


def run_aiodns(port: int, warm: list[str], timed: list[str], conc: int, meter: Meter) -> Run:
    import aiodns

    async def main() -> Run:
        res = aiodns.DNSResolver(nameservers=[f"127.0.0.1:{port}"], timeout=TIMEOUT, tries=1)

        def lookup(name: str):
            return res.query_dns(name, "A")

        await _workers(lookup, warm, conc)
        meter.start()
        done, failures = await _workers(lookup, timed, conc)
        run = meter.stop(done, failures)
        await res.close()
        return run

    return asyncio.run(main())


# -- server ----------------------------------------------------------------------------


def start_server(pin: bool) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, str(SERVER)] + (["--cpu", str(SERVER_CPU)] if pin else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("Listening on ") or time.monotonic() > deadline:
        proc.kill()
        raise RuntimeError(f"DNS server did not start: {line!r}")
    return proc, int(line.split()[-1])


def best(runs: list[Run]) -> tuple[Run, Run, Run, int]:
    """The fastest run, the cheapest-for-the-client run, the cheapest-for-the-server run
    and the failures of all runs."""
    return (
        min(runs, key=lambda r: r.seconds),
        min(runs, key=lambda r: r.client_us),
        min(runs, key=lambda r: r.server_us),
        sum(r.failures for r in runs),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 lookups, one run")
    parser.add_argument("--lookups", type=int, help="timed lookups per run (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=100, help="lookups in flight")
    parser.add_argument("--warmup", type=int, default=500, help="untimed lookups per run")
    parser.add_argument("--repeat", type=int, help="runs per client, best wins (default 3)")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    parser.add_argument(
        "--no-randomize-case", action="store_true", help="turn levent's 0x20 case randomising off"
    )
    args = parser.parse_args(argv)
    lookups = args.lookups or (2_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    conc = args.concurrency
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # before any thread (c-ares's) starts

    build = "compiled with mypyc" if levent.COMPILED else "pure Python"
    clients: dict[str, Callable[..., Run]] = {
        "levent": lambda *a: run_levent(*a, randomize_case=not args.no_randomize_case),
        "dnspython (asyncio)": run_dnspython,
        "aiodns (c-ares, asyncio)": run_aiodns,
    }
    server, port = start_server(pin)
    results: dict[str, tuple[Run, Run, Run, int]] = {}
    try:
        meter = Meter(server.pid)
        for name, fn in clients.items():
            tag = name.split()[0]
            runs = []
            for r in range(repeat):
                gc.collect()
                gc.disable()
                try:
                    for attempt in range(RETRIES + 1):
                        warm = names(f"w{r}.{attempt}.{tag}", args.warmup)
                        timed = names(f"r{r}.{attempt}.{tag}", lookups)
                        run = fn(port, warm, timed, conc, meter)
                        if run.other_cpu <= MAX_OTHER:
                            break
                    runs.append(run)
                finally:
                    gc.enable()
            results[name] = best(runs)
    finally:
        server.kill()
        server.wait()

    print(f"\n## DNS: {lookups:,} A lookups, {conc} in flight, one local server (UDP)")
    print(f"levent {levent.__version__} ({build}); best of {repeat}, {args.warmup} warm-up lookups")
    print(
        f"server: levent DnsServerPort, CPU {SERVER_CPU if pin else '-'}; "
        f"clients: CPU {CLIENT_CPU if pin else '-'}; "
        f"levent randomize-case {'off' if args.no_randomize_case else 'on'}\n"
    )
    print(
        "| client | lookups/s | client CPU µs/lookup | server CPU µs/lookup "
        "| server busy | other CPU | failures |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (fast, cheap, srv, failures) in results.items():
        print(
            f"| {name} | {fast.rate:,.0f} | {cheap.client_us:.1f} | {srv.server_us:.1f} "
            f"| {fast.server_busy:.0%} | {fast.other_cpu:.0%} | {failures} |"
        )
    lev = results["levent"]
    print("\n| levent ÷ | lookups/s | client CPU per lookup (other ÷ levent) |")
    print("|---|---:|---:|")
    for name, (fast, cheap, _srv, _f) in results.items():
        if name == "levent":
            continue
        speed = lev[0].rate / fast.rate
        cpu = cheap.client_us / lev[1].client_us
        print(f"| {name} | {speed:.2f}x | {cpu:.2f}x |")
    print(
        "\n(ratios > 1: levent better; server busy ~100% means the server set the rate; "
        "other CPU: processes other than these two, share of one CPU, fastest run)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
