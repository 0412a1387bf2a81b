"""Request bodies. Responses are the service layer's own views (zenmail.directory.views).

Bodies only check shape (types, required fields, lengths the database imposes); meaning —
valid names and addresses, sizes, passwords, the quota pool — is checked by the service layer,
so the API and the CLI refuse exactly the same things with the same words.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from zenmail.directory.accounts import DEFAULT_QUOTA
from zenmail.directory.passwords import MIN_PASSWORD_LENGTH
from zenmail.directory.rules import MIN_QUOTA
from zenmail.directory.tenants import MAX_ACCOUNTS_LIMIT
from zenmail.directory.views import AliasInfo


def _size_shape(value: Any) -> str | int:
    # JSON true would pass as 1 and 1.5 would be truncated by a plain `int`; refuse both.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError(
            "size_type", 'a size is a string such as "2G", "500M", "1.5GiB", or a whole '
            "number of bytes")
    return value


def _size_schema(minimum: int, note: str = "") -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": minimum}],
                           "description": 'Binary units as Dovecot reads them: "500M", "2G", '
                                          f'"2GB", "1.5GiB", or bytes. {note}'.rstrip(),
                           "examples": ["2G", 2147483648]})


# The limits the service enforces are written into the document from the same constants,
# so that a client (or a schema-driven fuzzer) knows them before it is refused.
Size = Annotated[str | int, PlainValidator(_size_shape), _size_schema(0)]
Quota = Annotated[str | int, PlainValidator(_size_shape), _size_schema(
    MIN_QUOTA, "At least 1 MiB: disable an account rather than give it no space.")]
MoveSize = Annotated[str | int, PlainValidator(_size_shape), _size_schema(1)]
# In the document only: the service checks the length, saying how long the password was.
Password = Annotated[str, Field(json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
                                description=f"At least {MIN_PASSWORD_LENGTH} characters; "
                                            "stored as an Argon2id hash.")]


class Body(BaseModel):
    # A misspelt field ("poool") would otherwise be ignored silently and the request would do
    # something other than what the caller meant. Strict: JSON true is not 1, "5" and 5.0 are
    # not 5 — a value of the wrong JSON type is refused, not guessed at.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class TenantCreate(Body):
    name: str = Field(description="1-63 letters, digits or hyphens", examples=["acme"])
    pool: Size
    max_accounts: int | None = Field(None, ge=0, le=MAX_ACCOUNTS_LIMIT,
                                     description="Omit or null: no limit")


class PoolSet(Body):
    pool: Size


class MaxAccountsSet(Body):
    max_accounts: int | None = Field(ge=0, le=MAX_ACCOUNTS_LIMIT,
                                     description="null removes the limit")


class DomainCreate(Body):
    tenant: str = Field(examples=["acme"])
    name: str = Field(examples=["acme.example"])


class AccountCreate(Body):
    address: str = Field(examples=["alice@acme.example"])
    password: Password | None = Field(None, description="Give this or password_hash.")
    password_hash: str | None = Field(None, description="An existing hash ({ARGON2ID}, "
                                      "{BLF-CRYPT} or {SHA512-CRYPT}), e.g. when migrating.")
    quota: Quota = DEFAULT_QUOTA
    display_name: str = Field("", max_length=200)
    tenant: str | None = Field(None, description="If given, the address's domain must belong "
                               "to this tenant (a guard against typos).")


class AccountImportRow(Body):
    address: str = Field(examples=["alice@acme.example"])
    password: Password | None = Field(None, description="Give this or password_hash.")
    password_hash: str | None = None
    quota: Quota = DEFAULT_QUOTA
    display_name: str = Field("", max_length=200)


class AccountsImport(Body):
    tenant: str | None = Field(None, description="If given, every domain must belong to it.")
    accounts: list[AccountImportRow] = Field(min_length=1, max_length=5000, description=(
        "Created all or none. Up to 5,000 per request (the body limit is 1 MiB); "
        "`zenmail account import FILE.csv` has no such limit."))


class QuotaSet(Body):
    quota: Quota


class NameSet(Body):
    display_name: str = Field(max_length=200, description='The new display name; "" removes '
                              "it. The address does not change.", examples=["Alice Martin"])


class PasswordSet(Body):
    password: Password


class QuotaMove(Body):
    source: str = Field(alias="from", examples=["alice@acme.example"])
    target: str = Field(alias="to", examples=["bob@acme.example"])
    size: MoveSize


class AliasCreate(Body):
    address: str = Field(description='The alias, or "@domain" for the domain\'s catch-all.',
                         examples=["sales@acme.example", "@acme.example"])
    targets: list[str] = Field(min_length=1, examples=[["alice@acme.example"]])


class AliasTargetsSet(Body):
    targets: list[str] = Field(min_length=1, description="The alias's new targets, replacing "
                               "all of the old ones, in this order.",
                               examples=[["alice@acme.example", "bob@acme.example"]])


class AdminCreate(Body):
    name: str = Field(description="The administrator's mail address.",
                      examples=["it@acme.example"])
    tenant: str | None = Field(None, description="Omit for a global administrator (global "
                               "administrators only).")


class TokenCreate(Body):
    admin: str = Field(examples=["it@acme.example"])
    name: str = Field("default", max_length=100, description="What the token is for.")


class AliasRemoval(BaseModel):
    """What is left of an alias after a removal: null when the alias itself is gone."""

    alias: AliasInfo | None


class AppPasswordCreate(Body):
    name: str = Field(min_length=1, max_length=100, description="Which device it is for",
                      examples=["iPhone"])


class AppPasswordPolicy(Body):
    required: bool = Field(description="true: IMAP and SMTP accept only app passwords")


class DeviceLinkCreate(Body):
    expires: str = Field("1h", max_length=20, description="How long the link works: 30m, "
                         "1h, 2d (at most 7d). It works once.", examples=["1h"])


class AccountCheck(Body):
    password: str = Field(min_length=1, max_length=1024, description="The password or app "
                          "password a device would use; only tried, never stored or logged.")
class EcoPolicySet(Body):
    """A tenant's eco policy (docs/eco.md); a field left out stays as it was."""

    archive_after: str | None = Field(None, max_length=20, examples=["12m"],
                                      description="Archive mail received longer ago than "
                                      "this: 12m, 2y, or off.")
    trash_after: str | None = Field(None, max_length=20, examples=["30d"],
                                    description="Expunge what lay in Trash and Junk longer "
                                    "than this: 30d, or off.")
    reduce_images: bool | None = Field(None, description="Down-scale large images of "
                                       "archived mail (opt-in).")
class SnapshotCreate(Body):
    tenant: str | None = Field(None, max_length=63, description="Only this tenant.")
    account: str | None = Field(None, max_length=320, description="Only this account.")
    all: bool = Field(False, description="Every tenant (global administrators).")


class VaultRestore(Body):
    restore_id: str | None = Field(None, max_length=80, description="One message, by the id "
                                   "`GET …/vault/messages` gives.")
    snapshot: str | None = Field(None, max_length=64, description="A snapshot id: with "
                                 "`folder`, that folder; without, the whole account.")
    folder: str | None = Field(None, max_length=1000)
    to_folder: str | None = Field(None, max_length=1000, description="Into this folder "
                                  "instead of the message's own.")
    into: str | None = Field(None, max_length=320, description="The whole account into "
                             "another one.")


class SharedRestore(Body):
    snapshot: str = Field(max_length=64, description="A snapshot of the tenant (or of "
                          "everything).")
    calendar: str | None = Field(None, max_length=63, description="Only this shared "
                                 "calendar; without, every one the snapshot holds.")


class MeRestore(Body):
    id: str = Field(max_length=80, description="An id from `GET /me/deleted`.")
    to_folder: str | None = Field(None, max_length=1000)
