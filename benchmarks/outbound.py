"""Outbound throughput, end to end, against Postfix's smtp-source into the same smtp-sink.

    .venv/bin/python benchmarks/outbound.py                 # SQLite, `mailgate serve`
    .venv/bin/python benchmarks/outbound.py --postgres --workers 2
    .venv/bin/python benchmarks/outbound.py --dkim           # every message DKIM-signed
    .venv/bin/python benchmarks/outbound.py --dkim --sign-processes 1
    .venv/bin/python benchmarks/outbound.py --curve 1,2,4    # PostgreSQL, N worker processes

20,000 messages of about 5 KB are accepted through the API (batches of 1,000) and
delivered by mailgate into a local smtp-sink; the clock runs from the first POST
to the last delivery recorded. In the same run, smtp-source sends the same count
of 5 KB messages into the same sink at concurrency 10. Prints both rates, the
ratio, and the CPU mailgate's processes used per message (steadier than the rates
on a busy machine).

With ``--dkim`` the sender's domain (acme.example.com) is a sending domain of the
benchmark's workspace with an RSA-2048 key, so the worker signs every message; one
message through a dumping sink first proves that it does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.postgres import free_port, running_postgres  # noqa: E402
from tests.servers.smtpsink import (  # noqa: E402
    SMTP_SINK,
    _start_sink,
    stop_process_group,
    wait_for_port,
)

BIN = Path(sys.executable).parent
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        [SMTP_SINK, *user, f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, proc)
    return proc, port


def reference(port: int, count: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            SMTP_SOURCE,
            "-s",
            "10",
            "-m",
            str(count),
            "-l",
            "5120",
            "-f",
            "bench@acme.example.com",
            "-t",
            "sink@example.net",
            f"127.0.0.1:{port}",
        ],
        check=True,
    )
    return count / (time.perf_counter() - start)


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and every live descendant.

    Wall-clock rates swing with whatever else the machine runs; the CPU a message costs
    barely does, so the run prints both.
    """
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = set(pids), list(pids)
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    ticks = 0
    for pid in tree:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def body_text(i: int) -> str:
    line = "The quick brown fox jumps over the lazy dog; invoice and order details follow.\n"
    return f"Hello customer {i},\n\n" + line * 64  # ~5 KB


def add_sending_domain(env: dict[str, str], name: str) -> None:
    """Make ``name`` a sending domain of the default workspace, with its DKIM key."""
    from mailgate.config import Settings
    from mailgate.domains import dkim
    from mailgate.runtime import build
    from mailgate.services import tenancy
    from mailgate.store.db import transaction
    from mailgate.store.models import SendingDomain, new_id

    app = build(Settings.from_env(env, create=False))
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.workspace_by_name(session, "default")
            row = SendingDomain(id=new_id("dom"), workspace_id=ws.id, name=name)
            session.add(row)
            session.flush()
            dkim.ensure_keys(session, app.secrets, row)
    finally:
        app.dispose()


def check_signed(client: httpx.Client, tmp: Path) -> None:
    """Send one message through a dumping smtp-sink: it must arrive DKIM-signed."""
    (tmp / "check").mkdir()
    os.chmod(tmp, 0o755)
    sink = _start_sink(tmp / "check", ())
    try:
        t = client.post(
            "/v1/transports",
            json={
                "name": "dkim-check",
                "kind": "smtp",
                "default": False,
                "mode": "immediate",
                "sender": "bench@acme.example.com",
                "config": {"host": "127.0.0.1", "port": sink.port},
            },
        ).json()
        r = client.post(
            "/v1/messages",
            json={
                "from": "bench@acme.example.com",
                "to": ["check@example.net"],
                "text": "x",
                "transport": t["id"],
            },
        )
        r.raise_for_status()
        [dump] = sink.messages(expect=1)
        if b"DKIM-Signature: v=1; a=rsa-sha256" not in dump.dump:
            raise SystemExit("--dkim: the check message left unsigned")
    finally:
        stop_process_group(sink.proc)


def mailgate_run(args: argparse.Namespace, sink_port: int) -> tuple[float, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="mg-bench-"))
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp),
        "MAILGATE_HTTP": f"127.0.0.1:{free_port()}",
        "MAILGATE_SMTP": f"127.0.0.1:{free_port()}",
        # The sink listens on loopback, which a workspace's transport may use only when allowed.
        "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        "MAILGATE_DKIM_SIGN_PROCESSES": str(args.sign_processes),
    }
    stack = contextlib.ExitStack()
    if args.postgres:
        pg = stack.enter_context(running_postgres())
        env["MAILGATE_DATABASE_URL"] = pg.create_database()
    mg = str(BIN / "mailgate")
    subprocess.run([mg, "init"], env=env, check=True, capture_output=True)
    key = (
        subprocess.run(
            [mg, "apikey", "create", "--workspace", "default"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    if args.dkim:
        add_sending_domain(env, "acme.example.com")
    procs = []
    serve = [mg, "serve"] + (["--no-workers"] if args.workers else [])
    procs.append(subprocess.Popen(serve, env=env, start_new_session=True))
    for _ in range(args.workers):
        procs.append(subprocess.Popen([mg, "worker"], env=env, start_new_session=True))
    url = "http://" + env["MAILGATE_HTTP"]
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    try:
        deadline = time.time() + 30
        while True:
            try:
                client.get("/healthz")
                break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        if args.dkim:
            check_signed(client, tmp)
        t = client.post(
            "/v1/transports",
            json={
                "name": "sink",
                "kind": "smtp",
                "default": False,
                "mode": "queued",
                "sender": "bench@acme.example.com",
                "config": {"host": "127.0.0.1", "port": sink_port, "max_connections": 10},
            },
        ).json()
        batches = [
            [
                {
                    "from": "Bench <bench@acme.example.com>",
                    "to": [f"user{i}@example.net"],
                    "subject": f"Your order {i}",
                    "text": body_text(i),
                    "transport": t["id"],
                }
                for i in range(b, min(b + 1000, args.count))
            ]
            for b in range(0, args.count, 1000)
        ]
        cpu_start = tree_cpu([p.pid for p in procs])
        start = time.perf_counter()
        accepted_at = 0.0

        def post(batch: list[dict[str, object]]) -> None:
            r = client.post("/v1/messages/batch", json={"messages": batch})
            r.raise_for_status()
            errors = [x for x in r.json()["items"] if "error" in x]
            assert not errors, errors[:3]

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(post, batches))
        accepted_at = time.perf_counter() - start
        while True:
            pending = client.get("/v1/messages", params={"status": "pending", "limit": 1}).json()
            if not pending["items"]:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        cpu = tree_cpu([p.pid for p in procs]) - cpu_start
        failed = client.get("/v1/messages", params={"status": "failed", "limit": 1}).json()
        assert not failed["items"], failed
        return args.count / elapsed, {
            "accepted_per_s": args.count / accepted_at,
            "cpu_ms_per_msg": 1000 * cpu / args.count,
        }
    finally:
        client.close()
        for p in procs:
            stop_process_group(p)
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--workers", type=int, default=0, help="separate `mailgate worker` processes")
    ap.add_argument("--dkim", action="store_true", help="DKIM-sign every message (RSA-2048)")
    ap.add_argument(
        "--sign-processes", type=int, default=0, help="MAILGATE_DKIM_SIGN_PROCESSES for --dkim"
    )
    ap.add_argument(
        "--curve",
        metavar="N,N,…",
        help="PostgreSQL with `serve --no-workers` and N `mailgate worker` processes, per N"
        " (each point with its own smtp-source reference)",
    )
    args = ap.parse_args()
    if args.curve:
        curve(args)
        return
    sink, port = start_sink()
    try:
        ref = reference(port, args.count)
        rate, extra = mailgate_run(args, port)
    finally:
        stop_process_group(sink)
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(
        json.dumps(
            {
                "store": store,
                "workers": args.workers,
                "dkim": args.dkim,
                "sign_processes": args.sign_processes,
                "messages": args.count,
                "mailgate_msgs_per_s": round(rate, 1),
                "accepted_msgs_per_s": round(extra["accepted_per_s"], 1),
                "mailgate_cpu_ms_per_msg": round(extra["cpu_ms_per_msg"], 3),
                "smtp_source_msgs_per_s": round(ref, 1),
                "ratio": round(rate / ref, 3),
            }
        )
    )


def curve(args: argparse.Namespace) -> None:
    """One line per worker count: does delivery scale with processes until the sink limits?"""
    args.postgres = True
    points = []
    for n in (int(x) for x in args.curve.split(",")):
        args.workers = n
        sink, port = start_sink()
        try:
            ref = reference(port, args.count)
            rate, _ = mailgate_run(args, port)
        finally:
            stop_process_group(sink)
        point = {"workers": n, "mailgate_msgs_per_s": round(rate, 1)}
        point |= {"smtp_source_msgs_per_s": round(ref, 1), "ratio": round(rate / ref, 3)}
        print(json.dumps({"store": "PostgreSQL", "messages": args.count, **point}), flush=True)
        points.append(point)
    print("curve (workers: ratio): " + ", ".join(f"{p['workers']}: {p['ratio']}" for p in points))


if __name__ == "__main__":
    main()
