"""``mailgate`` child processes of ``serve``: started, restarted when they die, stopped.

``serve`` runs extra listener processes (``runtime/listeners.py``) and extra delivery
workers (``MAILGATE_WORKER_PROCESSES``) as children: one process is one GIL, and a
second core only helps from a second process. A child is told its parent's pid
(``--parent``) and stops by itself when that ``serve`` is gone (SIGKILL), so nothing
runs unsupervised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: A process that exits sooner than this after its start is restarted only after a pause.
_QUICK_EXIT = 5.0


def parent_gone(parent: int | None) -> bool:
    """Whether the ``serve`` that started this process has gone (this one was re-parented)."""
    return parent is not None and os.getppid() != parent


class ChildProcesses:
    """``count`` processes of ``mailgate <command> --parent <pid>``, restarted when they die."""

    def __init__(self, command: str, count: int, env: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.count = count
        self.env = dict(os.environ if env is None else env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._started: dict[int, float] = {}
        self._stopping = False

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "mailgate.cli.main", self.command]
        argv += ["--parent", str(os.getpid())]
        proc = subprocess.Popen(argv, env=self.env)  # its log lines go where serve's go
        self._started[proc.pid] = time.monotonic()
        return proc

    async def supervise(self) -> None:
        """Start a new process in place of one that exited (run as a task; cancel to end)."""
        while not self._stopping:
            await asyncio.sleep(0.5)
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or self._stopping:
                    continue
                started = self._started.pop(proc.pid, 0.0)
                if code == 0:  # stopped by a signal of its own (the whole group got SIGTERM)
                    continue
                log.warning(
                    "%s process %s exited with %s; starting another", self.command, proc.pid, code
                )
                if time.monotonic() - started < _QUICK_EXIT:
                    await asyncio.sleep(_QUICK_EXIT)  # a process that cannot start: no busy loop
                if not self._stopping:
                    self.procs[i] = self._spawn()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every process (each commits what it holds), SIGKILL what lingers."""
        self._stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
