"""Device setup over HTTP: what mail programs fetch by themselves (Thunderbird's autoconfig,
Outlook's Autodiscover — public, outside the API), setup profiles and one-time links."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response, status
from starlette.requests import Request as PlainRequest
from starlette.responses import Response as PlainResponse

from zenmail.devices import autoconfig, endpoints, setup
from zenmail.devices import check as connection
from zenmail.directory.context import Actor, Ctx
from zenmail.errors import InvalidInput
from zenmail.web.deps import CtxDep
from zenmail.web.routes.apppasswords import SelfDep, _me
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import AccountCheck, DeviceLinkCreate

router = APIRouter(tags=["devices"], responses=ERRORS)
XML = "application/xml; charset=utf-8"

# Where clients look: Thunderbird asks autoconfig.<domain>/mail/config-v1.1.xml and
# <domain>/.well-known/autoconfig/mail/config-v1.1.xml; Outlook POSTs to
# (autodiscover.)<domain>/autodiscover/autodiscover.xml, in either capitalisation.
AUTOCONFIG_PATHS = ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml")
AUTODISCOVER_PATHS = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")


def _reader(request: PlainRequest) -> Ctx:
    state = request.app.state
    return Ctx(state.database, Actor("api:device-setup"), state.hasher)


def _profile_response(made: setup.Profile) -> Response:
    return Response(made.data, media_type="application/x-apple-aspen-config",
                    headers={"Content-Disposition": f'attachment; filename="{made.filename}"',
                             "Cache-Control": "no-store"})


async def thunderbird(request: PlainRequest) -> PlainResponse:
    address = request.query_params.get("emailaddress", "")
    domain = None
    if address:
        domain = setup.hosted_domain(_reader(request), address)
        if domain is None:
            return PlainResponse("no mail domain of this address is hosted here\n",
                                 status_code=404, media_type="text/plain")
    settings = request.app.state.settings
    body = autoconfig.thunderbird(domain, endpoints.of(settings), settings.hostname)
    return PlainResponse(body, media_type=XML)


async def outlook(request: PlainRequest) -> PlainResponse:
    # Answered with status 200 and Autodiscover's own error element when the request is
    # unusable: that is what Outlook understands (it then asks for manual settings).
    if request.method != "POST":
        return PlainResponse(autoconfig.outlook_error("POST an Autodiscover request"),
                             media_type=XML)
    try:
        address = autoconfig.requested_address(await request.body())
    except InvalidInput as exc:
        return PlainResponse(autoconfig.outlook_error(str(exc)), media_type=XML)
    if setup.hosted_domain(_reader(request), address) is None:
        return PlainResponse(autoconfig.outlook_error("this address is not hosted here"),
                             media_type=XML)
    return PlainResponse(autoconfig.outlook(address, endpoints.of(request.app.state.settings)),
                         media_type=XML)


def install(app: FastAPI) -> None:
    """The public discovery documents: plain routes, not API operations."""
    for path in AUTOCONFIG_PATHS:
        app.add_route(path, thunderbird, methods=["GET"], include_in_schema=False)
    for path in AUTODISCOVER_PATHS:
        app.add_route(path, outlook, methods=["GET", "POST"], include_in_schema=False)


@router.get("/device-links/{token}", summary="Fetch the setup profile behind a one-time "
            "link (no token needed: the link is the secret; it works once)",
            response_class=Response,
            responses={200: {"content": {"application/x-apple-aspen-config": {}},
                             "description": "The profile, with a new app password"}})
def redeem_device_link(request: Request, token: str) -> Response:
    state = request.app.state
    gate = Ctx(state.database, Actor("api:device-link"), state.hasher, state.platform,
               on_auth_change=state.on_auth_change)
    return _profile_response(setup.redeem(gate, state.settings, token))


@router.post("/accounts/{address:address}/device-links", status_code=status.HTTP_201_CREATED,
             summary="Make a one-time, expiring link to the account's setup profile")
def create_device_link(ctx: CtxDep, request: Request, address: str,
                       body: DeviceLinkCreate) -> dict[str, str]:
    made = setup.make_link(ctx, request.app.state.settings, address, body.expires)
    return {"url": made.url, "address": made.address,
            "expires_at": made.expires_at.isoformat()}


@router.get("/me/profile", response_class=Response,
            summary="Your setup profile (Mail, Calendars, Contacts) with a new app password",
            responses={200: {"content": {"application/x-apple-aspen-config": {}},
                             "description": "The profile, with a new app password"}})
def my_profile(ctx: SelfDep, request: Request) -> Response:
    return _profile_response(setup.make_profile(ctx, request.app.state.settings, _me(ctx)))


@router.post("/accounts/{address:address}/check",
             summary="Try the account's IMAP, SMTP submission and CalDAV with a password or "
                     "app password; says what fails and what to do")
def check_account(ctx: CtxDep, request: Request, address: str,
                  body: AccountCheck) -> connection.Report:
    return connection.run(ctx, request.app.state.settings, address, body.password)
