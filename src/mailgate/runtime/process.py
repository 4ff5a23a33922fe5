"""What a long-running process sets up first: its log lines and where its metrics live."""

from __future__ import annotations

from pathlib import Path

from mailgate.config import Settings
from mailgate.errors import ConfigurationError
from mailgate.runtime import logs
from mailgate.store import metrics


def metrics_dir(settings: Settings) -> Path:
    return settings.metrics_dir or settings.data_dir / "metrics"


def prepare(settings: Settings, *, answers_metrics: bool) -> None:
    """Configure logging and multiprocess metrics for ``serve`` or ``worker``.

    ``answers_metrics``: this process serves ``/metrics`` (``serve``); it clears the
    files of processes that no longer run. A ``worker`` on the same machine and data
    directory writes into the same directory, so ``serve``'s ``/metrics`` includes it;
    a worker on another machine is scraped through its own ``serve``, or not at all
    (docs/deploy.md, "Metrics").
    """
    logs.configure(settings)
    if settings.metrics_dir is None and not settings.data_dir.is_dir():
        # A worker on a machine of its own (PostgreSQL, the key in the environment) has no
        # data directory, and must not make one where it was started: its values stay in
        # memory; the database-backed figures (queue depth, sources) still cover its work.
        return
    path = metrics_dir(settings)
    try:
        metrics.enable_multiprocess(path, clear_stale=answers_metrics)
    except OSError as e:
        raise ConfigurationError(
            "MAILGATE_METRICS_DIR", f"cannot use {path} for metrics: {e.strerror}"
        ) from None
