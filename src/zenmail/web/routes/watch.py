"""Live watch over HTTP (docs/watch.md).

`router` (under /api/v1): `GET /trace`, where a message went, for administrators (a tenant
administrator: its own domains' mail). `node` (at the root): `/metrics` for Prometheus, with
an API token (a tenant administrator's scrape holds its own tenant's series only), and the
public status page, `/status` (HTML) and `/status.json`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from zenmail.watch import metrics, status, trace
from zenmail.watch.trace import Traced
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["watch"], responses=ERRORS)
node = APIRouter(tags=["watch"], responses=ERRORS)


@router.get("/trace", summary="Where did a message go? (a tenant administrator: its own "
            "domains' mail)")
def trace_messages(
        ctx: CtxDep, request: Request,
        message_id: Annotated[str | None, Query(max_length=998,
                                                description="Its Message-ID")] = None,
        from_: Annotated[str | None, Query(alias="from", max_length=320,
                                           description="Its envelope sender")] = None,
        to: Annotated[str | None, Query(max_length=320,
                                        description="One of its recipients")] = None,
        since: Annotated[str | None, Query(max_length=40, description="30m, 2h, 7d or an "
                                           "ISO date (UTC)")] = None) -> list[Traced]:
    return trace.trace(ctx, request.app.state.settings, message_id=message_id, sender=from_,
                       recipient=to, since=since)


@node.get("/metrics", summary="Prometheus metrics of this node (an API token; a tenant "
          "administrator sees its tenant's series)", response_class=Response,
          responses={200: {"content": {"text/plain": {}},
                           "description": "Prometheus text exposition format 0.0.4"}})
def get_metrics(ctx: CtxDep, request: Request) -> Response:
    body = metrics.render(request.app.state.settings, ctx.db, ctx.actor.tenant_id)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def _status_json(request: Request) -> JSONResponse:
    return JSONResponse(status.snapshot(request.app.state.settings,
                                        request.app.state.database))


def _status_page(request: Request) -> HTMLResponse:
    return HTMLResponse(status.page(status.snapshot(request.app.state.settings,
                                                    request.app.state.database)))


def install(app: FastAPI) -> None:
    """`node`'s routes, and the status page as plain routes: public, not API operations."""
    app.include_router(node)
    app.add_route("/status", _status_page, include_in_schema=False)
    app.add_route("/status.json", _status_json, include_in_schema=False)
