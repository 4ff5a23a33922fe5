"""`mailgate apikey` and `mailgate workspace`: operator keys, listing and revoking, domains."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
MAILGATE = str(Path(sys.executable).parent / "mailgate")


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {**os.environ, "MAILGATE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MAILGATE, *args], env=env, capture_output=True, text=True, timeout=60
        )

    return call


def test_operator_key_list_and_revoke(run: Run) -> None:
    """An operator key prints alone on the last line; list shows it; revoke marks it."""
    assert run("init").returncode == 0
    op = run("apikey", "create", "--operator", "--name", "ops")
    assert op.returncode == 0, op.stderr
    assert "operator" in op.stderr
    key = op.stdout.strip().splitlines()[-1]
    assert key.startswith("mg_")
    tenant = run("apikey", "create", "--workspace", "default", "--name", "ci")
    assert tenant.returncode == 0, tenant.stderr
    listed = run("apikey", "list")
    assert listed.returncode == 0, listed.stderr
    assert "(operator)" in listed.stdout and "default" in listed.stdout
    assert key not in listed.stdout, "a key is shown once, never listed"
    rows = {
        line.split("│")[3].strip(): line for line in listed.stdout.splitlines() if "key_" in line
    }
    [op_id] = re.findall(r"key_[0-9a-z]+", rows["ops"])
    done = run("apikey", "revoke", op_id)
    assert done.returncode == 0 and "revoked" in done.stdout
    after = run("apikey", "list", "--workspace", "default")
    assert "ops" not in after.stdout and "ci" in after.stdout
    revoked = [line for line in run("apikey", "list").stdout.splitlines() if op_id in line]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s*│?\s*$", revoked[0].rstrip("│ ")), revoked
    missing = run("apikey", "revoke", "key_nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_workspace_create_with_domains_and_add_domain(run: Run) -> None:
    """Domains are assigned once, normalised; junk and a second owner are clear errors."""
    assert run("init").returncode == 0
    made = run(
        "workspace", "create", "globex", "--domain", "Globex.Example", "-d", "bücher.example"
    )
    assert made.returncode == 0, made.stderr
    assert "globex.example" in made.stdout and "xn--bcher-kva.example" in made.stdout
    added = run("workspace", "add-domain", "default", "acme.example")
    assert added.returncode == 0, added.stderr
    taken = run("workspace", "add-domain", "default", "globex.example")
    assert taken.returncode == 1 and "assigned already" in taken.stderr
    junk = run("workspace", "add-domain", "default", "x@%")
    assert junk.returncode == 1 and "(domain)" in junk.stderr and "Traceback" not in junk.stderr
    listed = run("workspace", "list")
    assert "acme.example" in listed.stdout and "globex.example" in listed.stdout
