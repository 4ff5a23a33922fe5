"""Campaign throughput: upload a generated list, dispatch it into smtp-sink, watch RSS.

    .venv/bin/python benchmarks/campaign.py [--recipients 1000000]

Starts ``mailgate serve`` (API and worker in one process) on a fresh SQLite data
directory, POSTs a CSV of N generated recipients with three variables (streamed),
starts the campaign and waits until it is done. Prints upload rows/s, dispatch
msg/s and its ratio to ``smtp-source`` into the same sink in the same run, and
the peak RSS of the mailgate process sampled every 0.2 s throughout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.outbound import reference, start_sink
from tests.servers.smtpsink import free_port, stop_process_group

BIN = Path(sys.executable).parent


def rows(n: int) -> Iterator[bytes]:
    yield b"email,first,city,code\n"
    chunk: list[str] = []
    for i in range(n):
        chunk.append(f"person{i:07d}@example.net,Name{i % 977},City{i % 101},{i}\n")
        if len(chunk) == 5000:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


class RssSampler(threading.Thread):
    """Peak resident set size of a process tree, from /proc, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            pids.append(p)
            try:
                kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            except OSError:
                kids = []
            todo += [int(k) for k in kids]
        return pids

    def run(self) -> None:
        while not self.stop.wait(0.2):
            total = 0
            for p in self._tree():
                try:
                    for line in Path(f"/proc/{p}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=5000, help="smtp-source messages")
    parser.add_argument(
        "--upload-only", action="store_true", help="measure the upload (and its RSS) alone"
    )
    args = parser.parse_args()
    sink, sink_port = start_sink()
    tmp = Path(tempfile.mkdtemp(prefix="mg-campaign-"))
    env = {
        **os.environ,
        "MAILGATE_DATA_DIR": str(tmp),
        "MAILGATE_HTTP": f"127.0.0.1:{free_port()}",
        "MAILGATE_SMTP": f"127.0.0.1:{free_port()}",
        "MAILGATE_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
    }
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
    serve = subprocess.Popen([mg, "serve"], env=env, start_new_session=True)
    sampler = RssSampler(serve.pid)
    sampler.start()
    client = httpx.Client(
        base_url="http://" + env["MAILGATE_HTTP"],
        headers={"Authorization": f"Bearer {key}"},
        timeout=3600,
    )
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
        t = client.post(
            "/v1/transports",
            json={
                "name": "sink",
                "kind": "smtp",
                "mode": "queued",
                "config": {"host": "127.0.0.1", "port": sink_port, "security": "none"},
            },
        )
        t.raise_for_status()
        c = client.post(
            "/v1/campaigns",
            json={
                "name": "bench",
                "from": "news@acme.example.com",
                "subject": "Hello {{ first }} from {{ city }}",
                "text": "Dear {{ first }},\nyour code is {{ code }}.\n",
                "transport": t.json()["id"],
            },
        )
        c.raise_for_status()
        cid = c.json()["id"]
        start = time.perf_counter()
        r = client.post(
            f"/v1/campaigns/{cid}/recipients",
            content=rows(args.recipients),
            headers={"Content-Type": "text/csv"},
        )
        r.raise_for_status()
        upload_s = time.perf_counter() - start
        assert r.json()["accepted"] == args.recipients, r.json()
        dispatch_s = 0.0
        if not args.upload_only:
            start = time.perf_counter()
            client.post(f"/v1/campaigns/{cid}/start").raise_for_status()
            while (state := client.get(f"/v1/campaigns/{cid}").json())["state"] != "done":
                time.sleep(0.5)
            dispatch_s = time.perf_counter() - start
            assert state["counts"]["sent"] == args.recipients, state["counts"]
    finally:
        sampler.stop.set()
        sampler.join()
        client.close()
        stop_process_group(serve)
    ref = reference(sink_port, args.reference) if dispatch_s else 0.0
    stop_process_group(sink)
    _print(args, upload_s, dispatch_s, ref, sampler.peak)


def _print(
    args: argparse.Namespace, upload_s: float, dispatch_s: float, ref: float, peak: int
) -> None:
    print(f"recipients:        {args.recipients}")
    print(f"upload:            {args.recipients / upload_s:,.0f} rows/s ({upload_s:.1f} s)")
    if dispatch_s:
        rate = args.recipients / dispatch_s
        print(f"dispatch:          {rate:,.0f} msg/s ({dispatch_s:.1f} s)")
        print(f"smtp-source:       {ref:,.0f} msg/s  ratio {rate / ref:.3f}")
    print(f"peak RSS mailgate: {peak / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
