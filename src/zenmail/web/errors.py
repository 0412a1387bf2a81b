"""One error format for every API response that is not a success.

    {"error": "<stable code>", "message": "<what went wrong and what to do>"}

`ZenmailError` subclasses carry their own code and HTTP status (zenmail.errors), so the API
never decides per handler how a failure looks; request validation, unknown routes and
unexpected failures are brought into the same shape here, and nothing else reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from zenmail.errors import ZenmailError

log = logging.getLogger("zenmail.web")

DOCS_HINT = "see /api/docs for what each endpoint expects"


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Stable machine-readable code, e.g. not_found, "
                       "quota_exceeded", examples=["not_found"])
    message: str = Field(description="What went wrong and what to do about it, for a human.",
                         examples=["no tenant 'acme'; `zenmail tenant list` shows the tenants "
                                   "you manage"])
    details: list[dict[str, Any]] | None = Field(
        None, description="For invalid requests: one entry per rejected field.")


class Unauthenticated(ZenmailError):
    """No usable bearer token. Lives here because only HTTP has this notion."""

    code = "unauthenticated"
    http_status = 401

    def __init__(self, message: str, *, invalid_token: bool) -> None:
        super().__init__(message)
        # RFC 6750: tell the client which scheme to use, and whether its token was the problem.
        self.headers = {"WWW-Authenticate": 'Bearer realm="zenmail", error="invalid_token"'
                        if invalid_token else 'Bearer realm="zenmail"'}


class TooManyRequests(ZenmailError):
    """Too many wrong API tokens from one client address; `Retry-After` says when to retry."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


def _body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return body


def _zenmail_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ZenmailError)
    return JSONResponse(_body(exc.code, str(exc)), status_code=exc.http_status,
                        headers=getattr(exc, "headers", None))


def _where(loc: tuple[Any, ...]) -> str:
    # loc starts with where the value came from ("body", "query", "path"); the field path
    # after it is what the client wrote, so name that and fall back to the source.
    field = ".".join(str(p) for p in loc[1:])
    if loc and loc[0] == "body":
        return field or "request body"
    return f"{loc[0]} parameter {field}" if field else str(loc[0] if loc else "request")


_NOT_AN_OBJECT = {"model_attributes_type", "model_type", "dict_type"}


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":  # its loc ends in a character offset, not a field
            details.append({"field": "request body", "problem": "is not valid JSON "
                            f"({e.get('ctx', {}).get('error', 'syntax error')})"})
        elif tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT:
            # Typically curl -d without a JSON content type: the body arrives as a string.
            details.append({"field": "request body", "problem": "must be a JSON object, sent "
                            "with the header 'Content-Type: application/json'"})
        else:
            details.append({"field": _where(tuple(e.get("loc", ()))),
                            "problem": e.get("msg", "")})
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
    return JSONResponse(_body("invalid_input", f"invalid request: {summary} ({DOCS_HINT})",
                              details), status_code=422)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        code, message = "not_found", (f"no endpoint {request.method} {request.url.path}; "
                                      f"{DOCS_HINT}")
    elif exc.status_code == 405:
        code, message = "method_not_allowed", (f"{request.url.path} does not accept "
                                               f"{request.method}; {DOCS_HINT}")
        # Starlette names the methods of the first route that matched the path; a path
        # served by several routes (GET and DELETE /tenants/{tenant}) has all of theirs.
        return JSONResponse(_body(code, message), status_code=405,
                            headers={"Allow": ", ".join(_methods_of(request))})
    elif exc.status_code == 413:
        return too_large_response()
    elif exc.status_code == 400:
        # FastAPI's "error parsing the body": bytes that are not UTF-8 (JSON is UTF-8, RFC
        # 8259) or not text at all. A malformed request like any other: 422, as documented.
        problem = ("is not UTF-8 text; send JSON encoded in UTF-8"
                   if isinstance(exc.__cause__, UnicodeDecodeError) else "cannot be read as JSON")
        return JSONResponse(_body("invalid_input", f"invalid request: request body: {problem} "
                                  f"({DOCS_HINT})", [{"field": "request body",
                                                      "problem": problem}]), status_code=422)
    else:
        code, message = "http_error", str(exc.detail)
    return JSONResponse(_body(code, message), status_code=exc.status_code, headers=exc.headers)


def _methods_of(request: Request) -> list[str]:
    """Every method some route serves at this request's path."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(route.methods or ())
    return sorted(methods)


def too_large_response() -> JSONResponse:
    return JSONResponse(_body("too_large", "the request body is larger than this API accepts; "
                              "split the change into several requests"), status_code=413)


def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # The services check uniqueness before writing; the database's constraint only fires when a
    # concurrent request won that race, so the honest answer is "conflict, try again".
    log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(_body("conflict", "the change conflicts with one made at the same time "
                              "by another request; reload and retry"), status_code=409)


def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # Request models and services check ranges and lengths; this is the net for one they miss.
    log.warning("data error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(_body("invalid_input", "a value is too long or out of range for the "
                              "directory database; shorten or reduce it"), status_code=422)


def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(_body("stack_error", "the directory database is unavailable; retry in a "
                              "moment, and if it persists the server log names the cause"),
                        status_code=503)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never a traceback to a client: it may name internals, and it does not say what to do.
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(_body("internal_error", "the server failed on this request; the server log "
                              "has the details for the administrator"),
                        status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one format."""
    app.add_exception_handler(ZenmailError, _zenmail_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
