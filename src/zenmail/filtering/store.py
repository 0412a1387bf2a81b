"""The stack's Redis, as rspamd's zenmail rules fill it (templates/rspamd/rspamd.local.lua):

    zm:st:<tenant>:<YYYYMMDD>   hash: spam, virus, phishing, held, outbound, outbound_refused;
                                expired (held mail deleted after [filter] quarantine_days,
                                by zenmail.filtering.quarantine.expire)
    zm:tg:<tenant>:<YYYYMMDD>   sorted set: recipients targeted by blocked or held mail
    zm:susp:<account>           "<unix time>|<tenant>|<reason>": sending suspended
    zm:events                   list of JSON events (sending_suspended, ...), newest first
    zm:eg:*                     the egress counters (per account and tenant, hour and day)
"""

from __future__ import annotations

from typing import Any

from zenmail.errors import InvalidInput, StackError


def connect(endpoint: str) -> Any:
    import redis  # only the CLI, the API and tests reach Redis from Python

    if endpoint.startswith("unix:"):
        return redis.Redis(unix_socket_path=endpoint.removeprefix("unix:"), socket_timeout=3,
                           decode_responses=True)
    if endpoint.startswith("inet:"):
        host, _, port = endpoint.removeprefix("inet:").rpartition(":")
        return redis.Redis(host=host.strip("[]"), port=int(port), socket_timeout=3,
                           decode_responses=True)
    raise InvalidInput(f"Redis endpoint {endpoint!r} is neither unix:/PATH nor inet:HOST:PORT; "
                       "fix [endpoints] redis")


def call(fn: Any, *args: Any) -> Any:
    import redis

    try:
        return fn(*args)
    except (redis.RedisError, OSError) as exc:
        raise StackError(f"Redis does not answer ({exc}); is the stack running? "
                         "(`zenmail status`)") from exc
