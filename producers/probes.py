"""/metrics, /healthz and /readyz of the HTTP services (intake with the on-call API, and the console).

Alive is answering at all (the event loop runs); ready is Kafka and the ledger reachable (``runtime.probes``).
Left out of the OpenAPI document; a proxy in front should not forward them from the internet.
"""

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.metrics import ServiceMetrics
from runtime.probes import Readiness


def probes_router(metrics: ServiceMetrics, readiness: Readiness) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        status, body = await run_in_threadpool(readiness.answer)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @router.get("/metrics")
    async def exposition() -> Response:
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
