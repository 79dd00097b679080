"""Adding and revoking API keys in the configured store (the key file, or Redis)."""

from __future__ import annotations

import dataclasses

from tritontts.api.scopes import ALL_SCOPES
from tritontts.gateway.auth import (
    KeyRecord,
    RedisKeyStore,
    hash_key,
    new_key,
    read_key_file,
    write_key_file,
)
from tritontts.gateway.settings import ClientLimits, GatewaySettings
from tritontts_client.contract import GATEWAY_REDIS_KEYS_HASH


def _check_scopes(scopes: tuple[str, ...]) -> None:
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {', '.join(ALL_SCOPES)}")


async def add_key(settings: GatewaySettings, name: str, scopes: tuple[str, ...] = ALL_SCOPES,
                  limits: ClientLimits | None = None) -> str:
    """Make a key, store its hash, and return the key (the only time it is seen)."""
    _check_scopes(scopes)
    key = new_key()
    record = KeyRecord(name, hash_key(key), scopes, limits or settings.default_limits)
    if settings.keys_in_redis:
        redis = _redis(settings)
        try:
            await RedisKeyStore(redis).put(record)
        finally:
            await redis.aclose()
    else:
        path = _key_file(settings)
        records = read_key_file(path)
        if any(r.name == name for r in records):
            raise ValueError(f"a key named {name!r} exists already")
        write_key_file(path, [*records, record])
    return key


async def revoke_key(settings: GatewaySettings, name: str) -> None:
    if settings.keys_in_redis:
        import json

        redis = _redis(settings)
        try:
            found = False
            for raw in (await redis.hgetall(GATEWAY_REDIS_KEYS_HASH)).values():
                record = KeyRecord.from_dict(json.loads(raw))
                if record.name == name:
                    found = True
                    await RedisKeyStore(redis).put(dataclasses.replace(record, revoked=True))
        finally:
            await redis.aclose()
    else:
        path = _key_file(settings)
        records = read_key_file(path)
        found = any(r.name == name for r in records)
        write_key_file(path, [dataclasses.replace(r, revoked=True) if r.name == name else r
                              for r in records])
    if not found:
        raise ValueError(f"no key named {name!r}")


def _key_file(settings: GatewaySettings):
    if settings.keys_file is None:
        raise ValueError("name the key store: --keys-file FILE or --keys-in-redis")
    return settings.keys_file


def _redis(settings: GatewaySettings):
    if not settings.redis_url:
        raise ValueError("keys in Redis need --redis-url")
    import redis.asyncio as aioredis

    return aioredis.from_url(settings.redis_url)
