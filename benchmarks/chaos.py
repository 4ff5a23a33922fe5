"""Chaos run: mail in and out while `mailgate serve` and `mailgate worker` die by SIGKILL.

    .venv/bin/python benchmarks/chaos.py        # 10,000 each way, 100 kills, SQLite
    .venv/bin/python benchmarks/chaos.py --store postgres --messages 2000 --kills 20
    .venv/bin/python benchmarks/chaos.py --store both

Real processes on a real database file (or a private PostgreSQL): one `mailgate
serve` (API, SMTP listener and its worker lanes) and ``--workers`` `mailgate
worker` processes. The script sends ``--messages`` messages through the API
(batches of 100) into Postfix's smtp-sink, and ``--messages`` messages into the
listener over SMTP (four sessions), while it SIGKILLs a random one of those
processes ``--kills`` times at random points of the run and starts it again.

Each try of a message is its own message with its own subject: a POST or an SMTP
transaction that got no answer because its process died is tried again as a new
message, so what the server did with the first try stays countable. Afterwards
(every process alive, the queues drained) it counts, from the sink's dump files and
the database:

* every message the API accepted (``2xx``) was delivered to the sink; copies beyond
  the first are duplicates (a kill between the remote ``250`` and the commit of the
  result repeats that delivery: at least once, never lost), each with its cause in
  ``out_duplicate_causes`` (:func:`duplicate_causes`);
* every message the listener acknowledged (``250``) is stored exactly once;
* every stored inbound message is in exactly one conversation (no duplicates after a
  kill mid-processing);
* nothing is left in ``sending``, ``queued``/``deferred``, ``received`` or ``processing``.

Prints the counts as JSON and exits 1 on any loss.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.postgres import free_port, running_postgres  # noqa: E402
from tests.servers.smtpsink import _start_sink, stop_process_group, wait_for_port  # noqa: E402

BIN = Path(sys.executable).parent
MAILGATE = str(BIN / "mailgate")
SUPPORT = "support@acme.example.com"
BATCH = 100
SESSIONS = 4
OUT_SUBJECT = re.compile(rb"^Subject: (chaos-out-\d+-\d+)\r?$", re.M)
OUT_ID = re.compile(rb"^X-Mailgate-Id: (msg_[0-9a-z]+)", re.M)


@dataclass
class Tally:
    """What the load generators saw; shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    out_accepted: set[str] = field(default_factory=set)  # subjects answered 2xx
    out_unanswered: set[str] = field(default_factory=set)  # POSTs that died with their process
    in_acked: set[str] = field(default_factory=set)  # subjects answered 250
    in_replies: dict[str, str] = field(default_factory=dict)  # subject → the 250's text
    in_unanswered: set[str] = field(default_factory=set)  # no 250 (its process died)
    out_done: int = 0
    in_done: int = 0


class Cluster:
    """`mailgate serve` and workers over one database; kill and restart by process group."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.env = env
        self.log = log
        self.names = ["serve"] + [f"worker{i}" for i in range(workers)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: list[tuple[float, str]] = []  # (wall clock, name) of every SIGKILL
        self.http = env["MAILGATE_HTTP"]
        self.smtp_port = int(env["MAILGATE_SMTP"].rsplit(":", 1)[1])

    def start(self, name: str) -> None:
        argv = [MAILGATE, "serve"] if name == "serve" else [MAILGATE, "worker"]
        with (self.log / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)
        wait_for_port(self.smtp_port, self.procs["serve"], limit=60)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        self.killed.append((time.time(), name))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited by itself ({proc.returncode}); see {self.log}")

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_process_group(proc)


def setup(env: dict[str, str]) -> str:
    """Initialise the store, make the support address; returns an API key."""
    subprocess.run([MAILGATE, "init"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [MAILGATE, "apikey", "create", "--workspace", "default"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    from mailgate.config import Settings
    from mailgate.runtime import build
    from mailgate.services import tenancy
    from mailgate.store.db import transaction
    from mailgate.store.models import SupportAddress, new_id

    app = build(Settings.from_env(env, create=False))
    try:
        with transaction(app.sessions) as session:
            ws = tenancy.workspace_by_name(session, "default")
            session.add(SupportAddress(id=new_id("adr"), workspace_id=ws.id, address=SUPPORT))
    finally:
        app.dispose()
    return out.strip().splitlines()[-1]


def body(i: int) -> str:
    line = "Chaos run: this line pads the message to a realistic size for the queue.\n"
    return f"Message {i}.\n\n" + line * 16  # ~1.2 KB


def send_out(
    url: str, key: str, transport: str, n: int, tally: Tally, stop: threading.Event
) -> None:
    """POST batches until ``n`` messages are accepted; a batch without an answer is re-sent."""
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    tries = Counter[int]()
    todo = list(range(n))
    try:
        while todo and not stop.is_set():
            chunk, todo = todo[:BATCH], todo[BATCH:]
            subjects = {}
            for i in chunk:
                tries[i] += 1
                subjects[i] = f"chaos-out-{i}-{tries[i]}"
            batch = [
                {
                    "from": "Chaos <chaos@acme.example.com>",
                    "to": [f"user{i}@example.net"],
                    "subject": subjects[i],
                    "text": body(i),
                    "transport": transport,
                }
                for i in chunk
            ]
            try:
                r = client.post("/v1/messages/batch", json={"messages": batch})
                r.raise_for_status()
            except httpx.HTTPError:
                with tally.lock:
                    tally.out_unanswered.update(subjects.values())
                todo = chunk + todo
                time.sleep(0.2)
                continue
            items = r.json()["items"]
            failed = [i for i, item in zip(chunk, items, strict=True) if "error" in item]
            if failed:
                raise SystemExit(f"the API refused messages: {items[:2]}")
            with tally.lock:
                tally.out_accepted.update(subjects.values())
                tally.out_done += len(chunk)
    finally:
        client.close()


def send_in(port: int, indexes: list[int], tally: Tally, stop: threading.Event) -> None:
    """One SMTP client session at a time; a transaction without a 250 is tried again as new."""
    tries = Counter[int]()
    client: smtplib.SMTP | None = None
    todo = list(indexes)
    while todo and not stop.is_set():
        i = todo[0]
        tries[i] += 1
        subject = f"chaos-in-{i}-{tries[i]}"
        raw = (
            f"From: Customer {i} <c{i}@client.example.org>\r\n"
            f"To: <{SUPPORT}>\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: <{subject}@client.example.org>\r\n"
            "\r\n" + body(i).replace("\n", "\r\n")
        ).encode()
        try:
            if client is None:
                client = smtplib.SMTP(
                    "127.0.0.1", port, local_hostname="client.example.org", timeout=30
                )
            # sendmail() without its DATA reply: the 250 names the stored message's id,
            # which says where an acknowledged message went if it is not found.
            client.ehlo_or_helo_if_needed()
            code, reply = client.mail(f"c{i}@client.example.org")
            if code == 250:
                code, reply = client.rcpt(SUPPORT)
            if code != 250:
                raise smtplib.SMTPResponseException(code, reply)
            code, reply = client.data(raw)
            if code != 250:
                client.rset()
                raise smtplib.SMTPDataError(code, reply)
        except (OSError, smtplib.SMTPException):
            with tally.lock:
                tally.in_unanswered.add(subject)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            client = None
            time.sleep(0.2)
            continue
        todo.pop(0)
        with tally.lock:
            tally.in_acked.add(subject)
            tally.in_replies[subject] = reply.decode("ascii", "replace")
            tally.in_done += 1
    if client is not None:
        with contextlib.suppress(Exception):
            client.quit()


def make_transport(url: str, key: str, sink_port: int) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        deadline = time.monotonic() + 60
        while True:
            try:
                c.get("/healthz").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        t = c.post(
            "/v1/transports",
            json={
                "name": "sink",
                "kind": "smtp",
                "default": False,
                "mode": "queued",
                "sender": "chaos@acme.example.com",
                "config": {"host": "127.0.0.1", "port": sink_port, "max_connections": 10},
            },
        )
        t.raise_for_status()
        return str(t.json()["id"])


def delivered(dump_dir: Path) -> Counter[str]:
    """Subject → how many copies the sink received."""
    copies: Counter[str] = Counter()
    for entry in os.scandir(dump_dir):
        match = OUT_SUBJECT.search(Path(entry.path).read_bytes())
        if match:
            copies[match.group(1).decode()] += 1
    return copies


def duplicate_causes(
    dump_dir: Path, log_dir: Path, kills: list[tuple[float, str]], retried: set[str]
) -> dict[str, Any]:
    """Why each extra copy was sent, from the sink's dump times, the SIGKILLs and the logs.

    * ``killed_before_commit``: a kill came after the first copy reached the sink and
      before the next one (the next one a lease later): the holder died between the
      remote ``250`` and its commit. ``window_ms`` is how long before the kill the copy
      arrived (the longest such gap bounds the 250-to-commit window that was hit).
    * ``stale_takeover``: a worker logged that another took the lease over while it
      was still delivering (the lease ran out on a live process).
    * ``retried_after_error``: the message has a failed (transient) attempt recorded,
      such as a final reply that timed out after the sink had the whole text.
    * ``unexplained``: neither.
    """
    copies: dict[str, list[float]] = {}
    for entry in os.scandir(dump_dir):
        data = Path(entry.path).read_bytes()
        match = OUT_ID.search(data)
        if match:
            copies.setdefault(match.group(1).decode(), []).append(entry.stat().st_mtime)
    dup = {mid: sorted(ts) for mid, ts in copies.items() if len(ts) > 1}
    stale: Counter[str] = Counter()
    for logfile in log_dir.glob("*.log"):
        with logfile.open("rb") as f:
            for line in f:
                if b"took it over" in line and b"msg_" in line:
                    for mid in re.findall(rb"msg_[0-9a-z]+", line)[:1]:
                        stale[mid.decode()] += 1
    times = sorted(kills)
    causes: Counter[str] = Counter()
    windows: list[float] = []
    for mid, ts in dup.items():
        for first, second in itertools.pairwise(ts):
            if stale[mid]:
                causes["stale_takeover"] += 1
                stale[mid] -= 1
                continue
            if mid in retried:
                causes["retried_after_error"] += 1
                continue
            # The sink may finish its dump file only once the killed connection drops.
            between = [k for k, _ in times if first - 0.25 <= k <= second]
            if between:
                causes["killed_before_commit"] += 1
                windows.append(max(0.0, between[0] - first))
            else:
                causes["unexplained"] += 1
    windows.sort()
    return {
        **causes,
        "window_ms_median": round(1000 * windows[len(windows) // 2]) if windows else None,
        "window_ms_max": round(1000 * windows[-1]) if windows else None,
    }


def store_counts(env: dict[str, str]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from mailgate.config import Settings
    from mailgate.runtime import build
    from mailgate.store.models import Attempt, Conversation, MessageRow, Recipient

    app = build(Settings.from_env(env, create=False), run_migrations=False)
    try:
        with app.sessions() as s:
            by_status = {
                f"{d}:{st}": n
                for d, st, n in s.execute(
                    select(MessageRow.direction, MessageRow.status, func.count()).group_by(
                        MessageRow.direction, MessageRow.status
                    )
                )
            }
            inbound = Counter(
                s.scalars(select(MessageRow.subject).where(MessageRow.direction == "in"))
            )
            conversations = Counter(s.scalars(select(Conversation.subject)))
            retried = set(
                s.scalars(
                    select(Recipient.message_pk)
                    .join(Attempt, Attempt.recipient_id == Recipient.id)
                    .where(Attempt.transient.is_(True))
                )
            )
            threaded = dict(
                s.execute(
                    select(MessageRow.subject, MessageRow.conversation_id).where(
                        MessageRow.direction == "in"
                    )
                ).all()
            )
        return {
            "by_status": by_status,
            "inbound": inbound,
            "conversations": conversations,
            "threaded": threaded,
            "retried": retried,
        }
    finally:
        app.dispose()


BUSY = ("out:queued", "out:deferred", "out:sending", "in:received", "in:processing")


def run(store: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"mg-chaos-{store}-"))
    stack = contextlib.ExitStack()
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp),
        "MAILGATE_HTTP": f"127.0.0.1:{free_port()}",
        "MAILGATE_SMTP": f"127.0.0.1:{free_port()}",
        "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
        # A killed worker's leases run out after this long: the run is not all waiting.
        "MAILGATE_LEASE_SECONDS": str(args.lease),
        "MAILGATE_RETRY_BASE": "1",
        "MAILGATE_INBOUND_AUTH": "off",
    }
    if store == "postgres":
        pg = stack.enter_context(running_postgres())
        env["MAILGATE_DATABASE_URL"] = pg.create_database()
    # Its own directory: `mailgate init` makes the data directory private, and the
    # sink writes its dumps as nobody.
    sink_dir = Path(tempfile.mkdtemp(prefix=f"mg-chaos-sink-{store}-"))
    sink = _start_sink(sink_dir, ())
    stack.callback(stop_process_group, sink.proc)
    if not args.keep:
        stack.callback(shutil.rmtree, sink_dir, True)
    key = setup(env)
    workers = args.workers if args.workers is not None else (1 if store == "sqlite" else 2)
    cluster = Cluster(env, workers, tmp)
    stack.callback(cluster.stop)
    started = time.monotonic()
    try:
        cluster.start_all()
        url = "http://" + env["MAILGATE_HTTP"]
        transport = make_transport(url, key, sink.port)
        tally = Tally()
        stop = threading.Event()
        n = args.messages
        threads = [threading.Thread(target=send_out, args=(url, key, transport, n, tally, stop))]
        for k in range(SESSIONS):
            part = list(range(k, n, SESSIONS))
            threads.append(
                threading.Thread(target=send_in, args=(cluster.smtp_port, part, tally, stop))
            )
        for t in threads:
            t.start()

        # Kill points: random positions in the run's progress (accepted out + acked in +
        # delivered out, 3N in all), so every kill lands while there is work in flight.
        points = sorted(rng.uniform(0.02, 0.97) * 3 * n for _ in range(args.kills))
        kills: Counter[str] = Counter()
        last_count = (0, 0.0)

        def progress() -> int:
            nonlocal last_count
            now = time.monotonic()
            if now - last_count[1] > 0.5:  # a directory scan of the sink: twice a second
                last_count = (sum(1 for _ in os.scandir(sink.dump_dir)), now)
            with tally.lock:
                return tally.out_done + tally.in_done + min(last_count[0], n)

        deadline = time.monotonic() + args.timeout
        while points:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out with {len(points)} kills to go")
            if progress() >= points[0]:
                points.pop(0)
                victim = rng.choice(cluster.names)
                cluster.kill(victim)
                kills[victim] += 1
                time.sleep(rng.uniform(0.0, 0.3))  # sometimes a moment down, sometimes none
                cluster.start(victim)
                if victim == "serve":
                    time.sleep(0.5)  # let the new process begin before the next kill point
            else:
                cluster.check_alive()
                time.sleep(0.02)
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            stop.set()
            raise SystemExit("the load generators did not finish")
        sent_at = time.monotonic() - started

        # Drain: every process alive, until nothing is in flight.
        while True:
            cluster.check_alive()
            counts = store_counts(env)
            if not any(counts["by_status"].get(b) for b in BUSY):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        copies = delivered(sink.dump_dir)
        causes = duplicate_causes(sink.dump_dir, tmp, cluster.killed, counts["retried"])
    finally:
        stack.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    accepted = tally.out_accepted
    lost_out = sorted(s for s in accepted if copies[s] == 0)
    dupes = {s: c - 1 for s, c in copies.items() if c > 1}
    unanswered_delivered = sum(1 for s in tally.out_unanswered if copies[s])
    inbound, conv = counts["inbound"], counts["conversations"]
    lost_in = sorted(s for s in tally.in_acked if inbound[s] == 0)
    stored_twice = sorted(s for s, c in inbound.items() if c > 1)
    dup_conversations = sorted(s for s, c in conv.items() if c > 1 and s.startswith("chaos-in-"))
    unthreaded = sorted(s for s, c in counts["threaded"].items() if c is None)
    stuck = {b: counts["by_status"][b] for b in BUSY if counts["by_status"].get(b)}
    report = {
        "store": store,
        "messages": n,
        "kills": dict(kills),
        "kills_total": sum(kills.values()),
        "seconds": round(time.monotonic() - started, 1),
        "seconds_sending": round(sent_at, 1),
        "out_accepted": len(accepted),
        "out_tries_unanswered": len(tally.out_unanswered),
        "out_unanswered_but_delivered": unanswered_delivered,
        "out_delivered_distinct": sum(1 for s in accepted if copies[s]),
        "out_lost": len(lost_out),
        "out_duplicate_copies": sum(dupes.values()),
        "out_max_copies": max(copies.values(), default=0),
        "out_duplicate_causes": causes,
        "in_acked": len(tally.in_acked),
        "in_tries_unanswered": len(tally.in_unanswered),
        "in_unanswered_but_stored": sum(1 for s in tally.in_unanswered if inbound[s]),
        "in_stored_acked": sum(1 for s in tally.in_acked if inbound[s]),
        "in_lost": len(lost_in),
        "in_stored_twice": len(stored_twice),
        "conversations": sum(c for s, c in conv.items() if s.startswith("chaos-in-")),
        "duplicate_conversations": len(dup_conversations),
        "inbound_without_conversation": len(unthreaded),
        "stuck": stuck,
        "by_status": counts["by_status"],
    }
    report["ok"] = not (
        lost_out
        or lost_in
        or stored_twice
        or dup_conversations
        or unthreaded
        or stuck
        or report["out_max_copies"] > 1 + report["kills_total"]
    )
    if not report["ok"]:
        report["examples"] = {
            "out_lost": lost_out[:5],
            "in_lost": lost_in[:5],
            "in_stored_twice": stored_twice[:5],
            "in_lost_replies": [tally.in_replies.get(s, "") for s in lost_in[:5]],
            "duplicate_conversations": dup_conversations[:5],
            "unthreaded": unthreaded[:5],
        }
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000, help="each way (default 10,000)")
    ap.add_argument("--kills", type=int, default=100, help="SIGKILLs (default 100)")
    ap.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--workers", type=int, help="`mailgate worker` processes (1 SQLite, 2 PG)")
    ap.add_argument("--lease", type=int, default=10, help="MAILGATE_LEASE_SECONDS (default 10)")
    ap.add_argument("--seed", type=int, default=None, help="random seed for the kill points")
    ap.add_argument("--timeout", type=float, default=3600, help="give up after this many s")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, dumps)")
    args = ap.parse_args()
    # SIGTERM (a timeout, Ctrl-C from a wrapper) still stops every process it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    ok = True
    for store in stores:
        report = run(store, args)
        report["seed"] = args.seed
        print(json.dumps(report), flush=True)
        ok = ok and report["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
