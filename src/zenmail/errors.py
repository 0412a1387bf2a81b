"""The one exception tree of zenmail.

    ZenmailError                 every error a user may see; `str()` says what and what to do
    ├── InvalidInput             malformed request (bad size, bad address, short password)
    ├── NotFound                 the named thing does not exist (or is outside the caller's tenant)
    ├── Conflict                 would break a rule of the directory (duplicate, loop, in use)
    │   └── QuotaExceeded        would break the pooled-quota invariant
    ├── PermissionDenied         the caller may not do this
    └── StackError               a daemon could not be configured, started or reached
        └── SchemaOutdated       the directory database's schema is not the one this code needs

The CLI prints `str(error)` on one line and exits 2; the API maps each class to one HTTP
status. Nothing else is allowed to escape to a user.
"""

from __future__ import annotations


class ZenmailError(Exception):
    """Root of every user-facing error. `code` is stable, for logs, metrics and API clients."""

    code = "error"
    http_status = 400


class InvalidInput(ZenmailError):
    code = "invalid_input"
    http_status = 422


class NotFound(ZenmailError):
    code = "not_found"
    http_status = 404


class Conflict(ZenmailError):
    code = "conflict"
    http_status = 409


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class PermissionDenied(ZenmailError):
    code = "forbidden"
    http_status = 403


class StackError(ZenmailError):
    code = "stack_error"
    http_status = 503


class SchemaOutdated(StackError):
    """The schema revision differs from this code's newest; the message says what to run."""

    code = "schema_outdated"
