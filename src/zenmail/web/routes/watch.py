"""Live watch over HTTP: `/metrics` for Prometheus (with an API token; a tenant
administrator's scrape holds its own tenant's series only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zenmail.watch import metrics
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["watch"], responses=ERRORS)


@router.get("/metrics", summary="Prometheus metrics of this node (an API token; a tenant "
            "administrator sees its tenant's series)", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition format 0.0.4"}})
def get_metrics(ctx: CtxDep, request: Request) -> Response:
    body = metrics.render(request.app.state.settings, ctx.db, ctx.actor.tenant_id)
    return Response(body, media_type=metrics.CONTENT_TYPE)
