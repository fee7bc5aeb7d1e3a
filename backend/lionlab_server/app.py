"""The FastAPI application factory (`uvicorn --factory lionlab_server.app:create_app`)."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lionlab.settings import Settings, get_settings
from lionlab_server import web
from lionlab_server.api import errors
from lionlab_server.api.access import public
from lionlab_server.api.deps import token_cache
from lionlab_server.api.routes import (
    artifacts,
    audit,
    comparisons,
    exports,
    flags,
    jobs,
    layers,
    me,
    members,
    metrics,
    notes,
    projects,
    runs,
    shares,
    sweeps,
    tokens,
    users,
    webhooks,
    workers,
)
from lionlab_server.api.validation import RequestLimits
from lionlab_server.db import make_engine, make_sessionmaker
from lionlab_server.mlflow import artifacts as mlflow_artifacts
from lionlab_server.mlflow import routes as mlflow_routes
from lionlab_server.services import write_queue
from lionlab_server.services.dispatch import Dispatcher, Reaper
from lionlab_server.services.webhooks import Deliverer

API_PREFIX = "/api/v1"


class ServerTiming:
    """ASGI middleware adding `Server-Timing: app;dur=<ms>` (time spent in the app)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    dispatcher = Dispatcher(settings, sessions)
    metric_writes = write_queue.metric_writes(engine, sessions)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        reaper = Reaper(dispatcher)
        reaper.start()
        deliverer = Deliverer(settings, sessions)
        deliverer.start()
        yield
        reaper.stopped.set()
        deliverer.stopped.set()
        metric_writes.close()  # answer the batches already queued before exiting

    app = FastAPI(
        lifespan=lifespan,
        title="LionLab",
        version="0.1.0",
        description="Lion-vs-AdamW experiment tracking: runs, per-step metrics, flags. "
        "Every /api/v1 call needs `Authorization: Bearer <token>`.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.dispatcher = dispatcher
    app.state.metric_writes = metric_writes
    app.state.token_cache = token_cache()
    for module in (
        projects,
        exports,  # before runs: /runs/export is not /runs/{run_id}
        runs,
        notes,
        artifacts,
        jobs,
        metrics,
        layers,
        flags,
        tokens,
        me,
        sweeps,
        workers,
        webhooks,
        comparisons,
        shares,
        audit,
        members,
        users,
    ):
        app.include_router(
            module.router, prefix=API_PREFIX, responses=errors.responses(*errors.COMMON)
        )
    mlflow_routes.install(app)
    mlflow_artifacts.install(app)
    errors.install(app)
    web.install(app)

    @app.get("/healthz", include_in_schema=False, dependencies=[public()])
    def healthz() -> dict:
        return {"status": "ok"}

    app.add_middleware(RequestLimits)
    app.add_middleware(ServerTiming)
    return app
