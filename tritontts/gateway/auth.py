"""Who is calling: `Authorization: Bearer` API keys (stored hashed, in a JSON file or in Redis)
or JWTs (verified against a public key or a JWKS file: signature, expiry, issuer, audience).

Keys are long random tokens, so one SHA-256 is enough to store them safely: unlike passwords
they cannot be guessed, and a fast hash keeps the lookup per request cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tritontts.api.errors import forbidden, unauthorized
from tritontts.api.scopes import ALL_SCOPES
from tritontts.gateway.settings import ClientLimits, GatewaySettings, JWTSettings
from tritontts_client.contract import GATEWAY_REDIS_KEYS_HASH

KEY_PREFIX = "sk-tts-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """One API key as stored: never the key itself, only its hash."""

    name: str
    key_hash: str
    scopes: tuple[str, ...] = ALL_SCOPES
    limits: ClientLimits = field(default_factory=ClientLimits)
    revoked: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        limits = data.get("limits") or {}
        return cls(name=str(data["name"]), key_hash=str(data["key_hash"]),
                   scopes=tuple(data.get("scopes", ALL_SCOPES)),
                   limits=ClientLimits(
                       requests=limits.get("requests", ClientLimits.requests),
                       characters=tuple(limits.get("characters", ClientLimits().characters)),
                       concurrency=int(limits.get("concurrency", ClientLimits.concurrency))),
                   revoked=bool(data.get("revoked", False)))


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a key's or token subject's name, scopes and limits."""

    name: str
    scopes: tuple[str, ...]
    limits: ClientLimits

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise forbidden(f"this key may not use '{scope}' (its scopes: "
                            f"{', '.join(self.scopes) or 'none'})")


class KeyStore(Protocol):
    async def lookup(self, key_hash: str) -> KeyRecord | None: ...


class FileKeyStore:
    """Keys in a JSON file `{"keys": [KeyRecord, ...]}`, read again whenever it changes, so a
    revoked key stops working without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._records: dict[str, KeyRecord] = {}

    async def lookup(self, key_hash: str) -> KeyRecord | None:
        stat = self.path.stat()
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            self._records = {r.key_hash: r for r in read_key_file(self.path)}
            self._stamp = (stat.st_mtime_ns, stat.st_size)
        return self._records.get(key_hash)


def read_key_file(path: Path) -> list[KeyRecord]:
    if not path.exists():
        return []
    return [KeyRecord.from_dict(entry) for entry in json.loads(path.read_text())["keys"]]


def write_key_file(path: Path, records: list[KeyRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps({"keys": [r.to_dict() for r in records]}, indent=2))
    temporary.replace(path)  # readers never see half a file


class RedisKeyStore:
    """Keys in one Redis hash (key hash → JSON record), shared by every replica."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def lookup(self, key_hash: str) -> KeyRecord | None:
        raw = await self.redis.hget(GATEWAY_REDIS_KEYS_HASH, key_hash)
        return None if raw is None else KeyRecord.from_dict(json.loads(raw))

    async def put(self, record: KeyRecord) -> None:
        await self.redis.hset(GATEWAY_REDIS_KEYS_HASH, record.key_hash,
                              json.dumps(record.to_dict()))


class JWTVerifier:
    """Tokens signed by a configured key. The subject (`sub`) names the caller, `scope` (space
    separated) its scopes; the gateway's default limits apply."""

    def __init__(self, settings: JWTSettings, default_limits: ClientLimits) -> None:
        import jwt

        self.settings = settings
        self.default_limits = default_limits
        self._jwt = jwt
        self._key: Any = None
        self._jwks: Any = None
        if settings.public_key_file is not None:
            self._key = Path(settings.public_key_file).read_bytes()
        if settings.jwks_file is not None:
            self._jwks = jwt.PyJWKSet.from_json(Path(settings.jwks_file).read_text())

    def verify(self, token: str) -> Principal:
        jwt = self._jwt
        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token, key, algorithms=list(self.settings.algorithms),
                audience=self.settings.audience, issuer=self.settings.issuer,
                leeway=self.settings.leeway_s,
                options={"require": ["exp", "sub"]
                         + (["aud"] if self.settings.audience else [])
                         + (["iss"] if self.settings.issuer else [])})
        except jwt.ExpiredSignatureError:
            raise unauthorized("the token has expired", "token_expired") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("the token is not meant for this service (audience)",
                               "invalid_token") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("the token comes from an issuer this service does not trust",
                               "invalid_token") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"invalid token: {exc}", "invalid_token") from None
        scopes = claims.get("scope", "")
        scopes = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes)
        return Principal(name=f"jwt:{claims['sub']}", scopes=scopes, limits=self.default_limits)

    def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        kid = self._jwt.get_unverified_header(token).get("kid")
        for jwk in self._jwks.keys:
            if kid is None or jwk.key_id == kid:
                return jwk.key
        raise self._jwt.InvalidTokenError(f"no key {kid!r} in the JWKS")


class Authenticator:
    def __init__(self, settings: GatewaySettings, keys: KeyStore | None,
                 jwt: JWTVerifier | None) -> None:
        self.enabled = settings.auth_enabled
        self.default_limits = settings.default_limits
        self.keys, self.jwt = keys, jwt

    async def authenticate(self, authorization: str | None) -> Principal:
        if not self.enabled:
            return Principal("anonymous", ALL_SCOPES, self.default_limits)
        if not authorization:
            raise unauthorized("You didn't provide an API key: send `Authorization: Bearer "
                               "KEY`", "missing_api_key")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be `Bearer KEY`")
        if self.jwt is not None and token.count(".") == 2 and not token.startswith(KEY_PREFIX):
            return self.jwt.verify(token)
        if self.keys is None:
            raise unauthorized("this gateway takes JWTs only", "invalid_token")
        record = await self.keys.lookup(hash_key(token))
        if record is None:
            raise unauthorized("Incorrect API key provided")
        if record.revoked:
            raise unauthorized(f"the API key '{record.name}' has been revoked", "revoked_api_key")
        return Principal(record.name, record.scopes, record.limits)

