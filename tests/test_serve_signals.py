"""``mailgate serve`` stops on SIGTERM and then closes what it runs, exiting 0.

uvicorn (0.29+) re-raises the SIGTERM it caught once it has stopped serving, which
killed ``serve`` (exit -15) before its listener, worker and store were closed.
``mailgate.cli.graceful.GracefulServer`` only stops. The whole ``serve`` process is
stopped this way by the console's browser test (tests/servers/serve.py); this is
the quick check of the server class itself, in a child interpreter.
"""

from __future__ import annotations

import subprocess
import sys

from tests.servers.smtpsink import free_port

CHILD = """
import asyncio, os, signal, sys
import uvicorn
from mailgate.cli.graceful import GracefulServer

async def app(scope, receive, send):
    pass

server = GracefulServer(uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]),
                                       log_level="error", lifespan="off"))

async def main():
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    await task
    print("closed after serving", flush=True)  # where serve closes listener and store

asyncio.run(main())
"""


def test_sigterm_stops_the_server_without_killing_the_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(free_port())], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "closed after serving\n"
    assert "Traceback" not in done.stderr
