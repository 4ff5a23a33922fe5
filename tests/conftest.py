"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded here."""

import os
from pathlib import Path

# Inbound authentication asks DNS; tests talk only to loopback servers, so mailgate
# processes started with this environment compute nothing unless a test asks for it
# (tests/test_inbound_auth.py points MAILGATE_DNS_RESOLVER at its own server).
os.environ.setdefault("MAILGATE_INBOUND_AUTH", "off")
# Every `serve` a test starts would start a `mailgate listen` per extra CPU; one process
# each keeps the suite's load down (tests/test_inbound_processes.py asks for two).
os.environ.setdefault("MAILGATE_LISTENER_PROCESSES", "1")
os.environ.setdefault("MAILGATE_WORKER_PROCESSES", "0")  # serve delivers in-process

pytest_plugins = sorted(
    f"tests.servers.{p.stem}"
    for p in (Path(__file__).parent / "servers").glob("*.py")
    if p.stem != "__init__"
)
