"""Liveness and readiness of the API itself; no token needed, no directory data returned."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from zenmail.db import Database
from zenmail.errors import StackError
from zenmail.web.deps import database
from zenmail.web.errors import ErrorBody

log = logging.getLogger("zenmail.web")

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["sqlite", "postgresql"]


@router.get("/health", summary="Is the API up and its database reachable and initialised?",
            responses={503: {"model": ErrorBody, "description": "Database unusable"}})
def health(db: Annotated[Database, Depends(database)]) -> Health:
    try:
        ready = db.is_initialised()
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable: %s", exc)
        # The driver's text can name hosts and users; it goes to the log, not to anonymous
        # callers of a public endpoint.
        raise StackError("the directory database is unreachable; check [database] url and that "
                         "the database server runs (details in the server log)") from exc
    if not ready:
        raise StackError("the directory database has no schema yet; run `zenmail init`")
    return Health(status="ok", database="sqlite" if db.is_sqlite else "postgresql")
