"""What every authenticated router shares: the documented error responses."""

from __future__ import annotations

from typing import Any

from starlette.convertors import PathConvertor, register_url_convertor

from zenmail.web.errors import ErrorBody


class AddressConvertor(PathConvertor):
    """`{address:address}` in a route: a mail address as written, `/` allowed in its local
    part (RFC 5322), but everything after the last `@` is a domain, which has no `/`. So
    `/accounts/bob@acme.test/quota` is never read as an account `bob@acme.test/quota`: a
    method that route lacks gets 405 naming the methods it has, as the document says."""

    regex = "[^@]*@[^/@]*"


register_url_convertor("address", AddressConvertor())

# Documented once so that every operation in the OpenAPI document shows the error format.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown or revoked one"},
    403: {"model": ErrorBody, "description": "Only a global administrator may do this"},
    404: {"model": ErrorBody, "description": "Not found, or outside your tenant"},
    409: {"model": ErrorBody, "description": "Breaks a directory rule (duplicate, pool, loop)"},
    422: {"model": ErrorBody, "description": "Malformed request or value"},
    429: {"model": ErrorBody, "description": "Too many wrong tokens from your address; retry "
          "after the seconds in Retry-After (a valid token is never refused so)"},
}
