"""The REST API: one ASGI app, `create_app(settings)`, served by `zenmail serve`.

Handlers are thin: they turn HTTP into a call of the directory's service functions with the
caller's Ctx and return the service's view. Authorization (tenant walls, global-only
operations) lives in those services, so the API cannot be more permissive than the CLI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from zenmail import __version__
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Platform
from zenmail.directory.passwords import Hasher
from zenmail.security import authcache
from zenmail.web import errors
from zenmail.web.limits import BodyLimit, TokenFailures
from zenmail.web.routes import (
    accounts,
    admins,
    aliases,
    apppasswords,
    audit,
    devices,
    domains,
    eco,
    filtering,
    lockouts,
    migrations,
    system,
    tenants,
    vault,
    watch,
)

API_PREFIX = "/api/v1"
# The routers under API_PREFIX, in the order of the API's documentation; one per line, so
# that engines landing together merge cleanly.
ROUTERS = (
    system,
    tenants,
    domains,
    accounts,
    aliases,
    admins,
    audit,
    lockouts,
    watch,
    migrations,
    apppasswords,
    devices,
    eco,
    vault,
    filtering,
)
DOCS_ASSETS = "/api/docs/assets"
# Swagger UI 5 from the npm package swagger-ui-dist, committed with its licence by
# scripts/vendor-swagger-ui.sh (version in VERSION): the 4.x of the swagger-ui-bundle wheel
# cannot display OpenAPI 3.1, which FastAPI publishes.
SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"

DESCRIPTION = """\
Manage zenmail's directory: tenants, their storage pools, domains, accounts, aliases,
administrators, API tokens and the audit log.

Authenticate with `Authorization: Bearer zm_…` (create a token with `zenmail token create`).
A global administrator sees everything; a tenant administrator sees and changes only its
tenant — anything else answers 404 as if it did not exist, and global-only operations 403.

Every error has the body `{"error": "<code>", "message": "<what to do>"}`.
"""


def _operation_id(route: APIRoute) -> str:
    # Handler names are unique and read well in generated clients (`create_tenant`), unlike
    # FastAPI's default of name + path + method.
    return route.name


def create_app(settings: Settings, database: Database | None = None,
               hasher: Hasher | None = None) -> FastAPI:
    """The API for `settings`; pass `database`/`hasher` to share existing ones (tests, CLI)."""
    owns_database = database is None
    db = database if database is not None else Database(settings.db_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        migrations.resume(_app)  # migration rounds a killed API process left half done
        yield
        if owns_database:  # a database handed in belongs to the caller, who disposes it
            db.dispose()

    app = FastAPI(title="zenmail API", version=__version__, description=DESCRIPTION,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None, lifespan=lifespan,
                  generate_unique_id_function=_operation_id)
    app.state.settings = settings
    app.state.database = db
    app.state.hasher = hasher or Hasher(settings.argon2_memory_kib, settings.argon2_time_cost)
    app.state.token_failures = TokenFailures(settings.lockout.api_token_failures)
    app.state.platform = Platform.of(settings)
    app.state.on_auth_change = authcache.flusher(settings.state_dir)
    errors.install(app)
    app.add_middleware(BodyLimit)
    for module in ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    migrations.install(app)  # the runner of migration rounds started over the API
    watch.install(app)  # /metrics where Prometheus looks; the status page
    devices.install(app)  # autoconfig, autodiscover, device links: outside /api/v1
    _serve_docs(app)
    return app


def _serve_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs from files shipped in the package, not from a CDN: zenmail is
    often run where browsers have no internet (a pilot network, a test box)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "", title="zenmail API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
                                   # No badge from validator.swagger.io: it would send the
                                   # document's URL out to the internet from every browser.
                                   swagger_ui_parameters={"validatorUrl": None})

    # A plain route, like FastAPI's own docs page: public, and not an API operation.
    app.add_route("/api/docs", docs, include_in_schema=False)
