"""Inbound SMTP throughput: mailgate's listener (commit before 250) against Postfix's smtp-sink.

One command: ``.venv/bin/python benchmarks/inbound.py`` (``--help`` for options).

Postfix's ``smtp-source`` sends the same load (``-l 5120 -s 10 -m 5000``: 5 KB
messages, 10 sessions in parallel) first into ``smtp-sink`` (accepts and forgets
everything: the ceiling of the client and the loopback) and then into mailgate's
listener, which stores every message in SQLite (WAL, ``synchronous=FULL``, in a
temporary data directory) and answers ``250`` only after the commit. Like
``mailgate serve``, it runs ``--processes`` listener processes on the one port
(SO_REUSEPORT; default ``MAILGATE_LISTENER_PROCESSES``, else 1 as on SQLite): this
one and ``mailgate listen`` children (runtime/listeners.py). Prints messages/second
for each and the ratio; ``--profile FILE`` writes a cProfile of this process's
listener loop thread and prints its top entries; ``--postgres`` stores into a
private PostgreSQL (the tests' server) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from mailgate.config import Settings
from mailgate.inbound.smtp import start_listener
from mailgate.runtime import build
from mailgate.runtime.listeners import ListenerProcesses
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, SupportAddress, new_id

T = TypeVar("T")
ADDRESS = "support@acme.example.com"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SECRET = "benchmark-key-Lp4Ok9Ij8Uh7Yg6Tf5Rd3Es2"


def listening(port: int) -> int:
    """Sockets listening on 127.0.0.1:port (one per process with SO_REUSEPORT)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return sum(1 for line in table if line.split()[1:2] == [wanted] and " 0A " in line)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


WARM_UP = 200  # messages sent before the timed run (not counted): no first-use costs


def smtp_source(port: int, args: argparse.Namespace, messages: int | None = None) -> float:
    """Run smtp-source against 127.0.0.1:port; returns messages per second."""
    messages = messages or args.messages
    argv = [
        SMTP_SOURCE,
        *("-l", str(args.size), "-s", str(args.sessions), "-m", str(messages)),
        *("-f", "bench@client.example.org", "-t", ADDRESS, "-M", "client.example.org"),
        f"127.0.0.1:{port}",
    ]
    start = time.perf_counter()
    subprocess.run(argv, check=True, timeout=600)
    return float(messages) / (time.perf_counter() - start)


def run_sink(args: argparse.Namespace) -> float:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen(
        [SMTP_SINK, *user, f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        return smtp_source(port, args)
    finally:
        sink.terminate()
        sink.wait()


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(600)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def run_mailgate(
    args: argparse.Namespace, data_dir: Path
) -> tuple[float, int, tuple[int, int], float]:
    """Messages/second; rows stored; (stored, groups) of this process; CPU ms per message."""
    settings = Settings(
        data_dir=data_dir,
        database_url=_database_url(args, data_dir),
        secret_key=SECRET,
        hostname="mx.acme.example.com",
    )
    app = build(settings)
    with transaction(app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
        session.add(SupportAddress(id=new_id("adr"), workspace_id=ws.id, address=ADDRESS))
    loop = LoopThread()
    more = args.processes - 1
    listener = loop.run(start_listener(app, "127.0.0.1", 0, reuse_port=more > 0))
    children = ListenerProcesses(more, listener.host, listener.port, env=_child_env(args, data_dir))
    children.start()
    deadline = time.monotonic() + 120
    while listening(listener.port) < args.processes:
        if time.monotonic() > deadline:
            raise RuntimeError("the listen processes did not start")
        time.sleep(0.05)
    profiler = cProfile.Profile() if args.profile else None

    async def profile(on: bool) -> None:
        if profiler is not None:
            profiler.enable() if on else profiler.disable()

    try:
        # Every process (a fresh ``mailgate listen`` above all) imports and compiles what
        # its first sessions need; a long-running listener has done that long ago.
        smtp_source(listener.port, args, WARM_UP)
        warm = (listener.committer.stored, listener.committer.groups)
        loop.run(profile(True))
        before = resource.getrusage(resource.RUSAGE_SELF)
        child_before = sum(cpu_seconds(p.pid) for p in children.procs)
        rate = smtp_source(listener.port, args)
        after = resource.getrusage(resource.RUSAGE_SELF)
        child_cpu = sum(cpu_seconds(p.pid) for p in children.procs) - child_before
        loop.run(profile(False))
    finally:
        children.stop()
        loop.run(listener.stop())
        loop.close()
    with app.sessions() as session:
        stored = session.scalar(select(func.count()).where(MessageRow.direction == "in")) or 0
    app.dispose()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + child_cpu
    mine = (listener.committer.stored - warm[0], listener.committer.groups - warm[1])
    return rate, stored, mine, cpu * 1000 / args.messages


def _database_url(args: argparse.Namespace, data_dir: Path) -> str:
    return str(args.url) if args.url else f"sqlite:///{data_dir / 'mailgate.db'}"


def _child_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MAILGATE_DATA_DIR": str(data_dir),
        "MAILGATE_DATABASE_URL": _database_url(args, data_dir),
        "MAILGATE_SECRET_KEY": SECRET,
        "MAILGATE_HOSTNAME": "mx.acme.example.com",
        # As in this process: no receipt lines (logging them costs CPU of its own).
        "MAILGATE_LOG_LEVEL": "WARNING",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", "--messages", type=int, default=5000)
    parser.add_argument("-s", "--sessions", type=int, default=10)
    parser.add_argument("-l", "--size", type=int, default=5120)
    parser.add_argument("--rounds", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the listener's loop thread")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a private PostgreSQL (the tests' server: fsync=off) instead of SQLite",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("MAILGATE_LISTENER_PROCESSES") or 1),
        help="listener processes on the port (default: MAILGATE_LISTENER_PROCESSES, else 1 "
        "as serve on SQLite)",
    )
    args = parser.parse_args()
    for tool in (SMTP_SOURCE, SMTP_SINK):
        if not os.path.exists(tool):
            print(f"{tool} is missing: install Postfix", file=sys.stderr)
            return 2
    load = (
        f"{args.messages} messages of {args.size} bytes, {args.sessions} sessions, "
        f"{args.processes} listener processes"
    )
    print(f"smtp-source: {load}; best of {args.rounds} rounds (the machine may be shared)")
    sinks, rates, cpus, stored, (listener_stored, groups) = [], [], [], 0, (0, 0)
    args.url = None
    stack = contextlib.ExitStack()
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.servers.postgres import running_postgres

        pg = stack.enter_context(running_postgres())
    with stack:
        for _ in range(args.rounds):
            args.url = pg.create_database() if args.postgres else None
            sinks.append(run_sink(args))
            with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
                rate, stored, (listener_stored, groups), cpu = run_mailgate(args, Path(tmp))
            rates.append(rate)
            cpus.append(cpu)
            if stored != args.messages + WARM_UP:
                print(f"ERROR: {args.messages + WARM_UP} sent, {stored} stored", file=sys.stderr)
                return 1
    sink, rate = max(sinks), max(rates)
    # Each round runs the sink and then mailgate back to back: its ratio compares
    # like with like when other work shares the machine.
    ratios = sorted(r / k for r, k in zip(rates, sinks, strict=True))
    print(f"smtp-sink (no storage)          {sink:9.0f} msg/s   rounds: {_list(sinks)}")
    store = "PostgreSQL " if args.postgres else "SQLite FULL"
    print(f"mailgate listener ({store}) {rate:9.0f} msg/s   rounds: {_list(rates)}")
    print(
        f"  last round: {stored} rows; this process's listener committed {listener_stored} "
        f"in {groups} group commits ({listener_stored / max(groups, 1):.1f}/commit)"
    )
    print(f"  mailgate CPU per message: {min(cpus):.2f} ms (listener processes + commits)")
    print(f"ratio mailgate/smtp-sink, best/best {rate / sink:9.3f}")
    print(
        f"ratio per round (median)            {ratios[len(ratios) // 2]:9.3f}   rounds: "
        + " ".join(f"{r:.3f}" for r in ratios)
    )
    return 0


def _list(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
