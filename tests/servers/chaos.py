"""``chaos_round``: one round of ``benchmarks/chaos.py`` (real processes, SIGKILLs) as a fixture.

Tests marked ``chaos`` take minutes and the whole machine, so they are left out of
every run that does not ask for them by marker: ``make chaos`` (or
``.venv/bin/pytest -m chaos``) runs them; ``make test`` deselects them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAOS = ROOT / "benchmarks" / "chaos.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos" in (config.getoption("markexpr", "") or ""):
        return  # asked for by marker (`-m chaos`, `-m "chaos and not postgres"`)
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


@pytest.fixture
def chaos_round() -> Callable[..., dict[str, Any]]:
    """Run ``benchmarks/chaos.py`` with the given flags and settings; its JSON report.

    ``env`` adds ``MAILGATE_*`` settings for every process of the round. The script's
    own exit status is not checked here: the test asserts on the counts, which says
    more than "exit 1".
    """

    def run(*flags: str, env: dict[str, str] | None = None, timeout: float = 900) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, str(CHAOS), *flags, "--timeout", str(timeout - 60)],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, f"chaos.py printed no report (exit {proc.returncode}): {proc.stderr[-3000:]}"
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    return run
