"""Shared fixtures: real servers live in tests/servers/, one module each."""

pytest_plugins: list[str] = []
