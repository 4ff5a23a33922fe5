"""Operations endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (docs/deploy.md).

The probes need no key (a load balancer or an orchestrator has none) and say nothing
about any workspace: a failing check is named with its exception type only, the
details go to the log. ``/metrics`` carries transport and source ids and every
workspace's volumes together, so it needs an operator key, which Prometheus sends
with ``authorization: {credentials: ...}`` in its scrape config; with
``MAILGATE_METRICS_PUBLIC=true`` it is open, for a scraper on a private network that
cannot hold a key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from mailgate import __version__
from mailgate.api.deps import OperatorDep
from mailgate.config import Settings
from mailgate.runtime import Mailgate
from mailgate.services import health
from mailgate.store.executors import run_in
from mailgate.store.metrics import multiprocess_dir

log = logging.getLogger(__name__)

#: Each check gets this long: both probes answer within a second even when the
#: database hangs (a stuck check keeps its thread; the pool is the probes' own).
CHECK_SECONDS = 0.8
_LISTENER = "mailgate_listener"


def router_for(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", responses={503: {"description": "a check failed"}})
    async def healthz(request: Request) -> JSONResponse:
        """Liveness: the database answers ``SELECT 1`` and the blob store reads and writes."""
        app = _mailgate(request)
        return await _answer(
            request,
            {
                "database": lambda: health.check_database(app.engine),
                "blobs": lambda: _check_blobs(app),
            },
        )

    @router.get("/readyz", responses={503: {"description": "not ready yet"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the schema is at the code's migration head and the listener is up."""
        app = _mailgate(request)
        listener = getattr(request.app.state, _LISTENER, None)

        def migrations() -> None:
            if (pending := health.pending_migrations(app.engine)) is not None:
                raise NotReady(pending)

        def smtp() -> None:
            if listener is not None and not listener["up"]:
                raise NotReady("the SMTP listener is not accepting connections yet")

        return await _answer(request, {"migrations": migrations, "listener": smtp})

    async def metrics(request: Request) -> Response:
        """Prometheus text format: counters of this installation's processes and the queue
        depth and source health read from the database now."""
        app = _mailgate(request)
        body = await run_in(app.executors.api, exposition, app)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    if settings.metrics_public:
        router.add_api_route("/metrics", metrics, methods=["GET"], response_class=Response)
    else:

        async def metrics_with_key(request: Request, _caller: OperatorDep) -> Response:
            return await metrics(request)

        metrics_with_key.__doc__ = metrics.__doc__
        router.add_api_route(
            "/metrics", metrics_with_key, methods=["GET"], response_class=Response
        )
    return router


class NotReady(Exception):
    """A readiness check's answer, safe to show (it names no host and no secret)."""


def listener_starting(api: FastAPI) -> None:
    """This process runs a listener: ``/readyz`` is 503 until :func:`listener_started`."""
    setattr(api.state, _LISTENER, {"up": False})


def listener_started(api: FastAPI) -> None:
    setattr(api.state, _LISTENER, {"up": True})


def _mailgate(request: Request) -> Mailgate:
    app: Mailgate = request.app.state.mailgate
    return app


def _check_blobs(app: Mailgate) -> None:
    with app.sessions() as session:
        health.check_blobs(app.blobs, session)


def _pool(request: Request) -> ThreadPoolExecutor:
    pool: ThreadPoolExecutor | None = getattr(request.app.state, "health_pool", None)
    if pool is None:
        pool = ThreadPoolExecutor(4, thread_name_prefix="mailgate-health")
        request.app.state.health_pool = pool
    return pool


async def _answer(request: Request, checks: dict[str, Callable[[], None]]) -> JSONResponse:
    pool = _pool(request)
    results = await asyncio.gather(*(_run(pool, name, fn) for name, fn in checks.items()))
    answers = dict(zip(checks, results, strict=True))
    failed = [f"{name}: {why}" for name, why in answers.items() if why != "ok"]
    body: dict[str, Any] = {"status": "ok" if not failed else "unavailable"}
    if failed:
        body["reason"] = "; ".join(failed)
    body["checks"] = answers
    body["version"] = __version__
    return JSONResponse(body, status_code=503 if failed else 200)


async def _run(pool: ThreadPoolExecutor, name: str, fn: Callable[[], None]) -> str:
    try:
        await asyncio.wait_for(run_in(pool, fn), CHECK_SECONDS)
    except TimeoutError:
        log.warning("health check %s gave no answer within %.1f s", name, CHECK_SECONDS)
        return f"no answer within {CHECK_SECONDS} s"
    except NotReady as e:
        return str(e)
    except Exception as e:  # the type only: the message may name hosts and users
        log.warning("health check %s failed", name, exc_info=True)
        return f"failed ({type(e).__name__})"
    return "ok"


# --- /metrics ------------------------------------------------------------------------------


class StoreCollector:
    """Queue depth and source health, read from the database at each scrape."""

    def __init__(self, app: Mailgate) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        with self.app.sessions() as session:
            depth = health.queue_depth(session)
            sources = health.source_health(session)
        queue = GaugeMetricFamily(
            "mailgate_queue_depth",
            "Unfinished rows per queue and state, read from the database at scrape time.",
            labels=["queue", "state"],
        )
        for (q, state), n in sorted(depth.items()):
            queue.add_metric([q, state], n)
        yield queue
        states = GaugeMetricFamily(
            "mailgate_source_state",
            "1 for each inbound source's current state (ok, failing, disabled, waiting).",
            labels=["source", "kind", "state"],
        )
        polled = GaugeMetricFamily(
            "mailgate_source_last_poll_timestamp_seconds",
            "When each polled source last finished a poll.",
            labels=["source", "kind"],
        )
        for s in sources:
            for name in health.SOURCE_STATES:
                states.add_metric([s.id, s.kind, name], 1.0 if s.state == name else 0.0)
            if s.last_polled_at is not None:
                polled.add_metric([s.id, s.kind], s.last_polled_at.timestamp())
        yield states
        yield polled


class _ProcessCollector:
    """This process's instruments (single-process mode: the default registry)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(app: Mailgate) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if (path := multiprocess_dir()) is not None:
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessCollector())
    registry.register(StoreCollector(app))
    return generate_latest(registry)
