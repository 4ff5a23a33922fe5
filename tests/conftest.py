"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded here."""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.servers.{p.stem}"
    for p in (Path(__file__).parent / "servers").glob("*.py")
    if p.stem != "__init__"
)
