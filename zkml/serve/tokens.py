"""API tokens: made once, shown once, stored as a SHA-256 hash with their scopes.

Scopes: ``prove`` (spend prover time: post and cancel jobs) and ``publish``
(send a proof to the oracle, which spends gas). Reading jobs, models, the page
and the metrics needs no token. A token is 32 random bytes; a fast hash is
enough for such a secret (there is nothing to brute-force), and comparing the
hash in SQL means no secret ever sits in the database.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from zkml.errors import ConfigError
from zkml.serve.store import JobStore

SCOPES = ("prove", "publish")
PREFIX = "zks_"


@dataclass(frozen=True)
class Token:
    """A stored token (never the secret itself)."""

    id: str
    name: str
    scopes: frozenset[str]


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    """``prove,publish`` as a set of known scopes.

    Raises:
        ConfigError: an unknown scope.
    """
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise ConfigError(f"unknown scopes {sorted(unknown) or text!r}", hint=f"choose from {', '.join(SCOPES)}")
    return scopes


def create_token(store: JobStore, name: str, scopes: frozenset[str]) -> tuple[Token, str]:
    """Make a token; returns it and its secret (shown once, stored only hashed)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    token = Token(uuid.uuid4().hex, name, frozenset(scopes))
    store.insert_token(token.id, name, hash_token(secret), ",".join(sorted(scopes)))
    return token, secret


def lookup_token(store: JobStore, secret: str) -> Token | None:
    """The live token with this secret, or None."""
    found = store.live_token(hash_token(secret))
    if found is None:
        return None
    token_id, name, scopes = found
    return Token(token_id, name, frozenset(scopes.split(",")))


@dataclass(frozen=True)
class TokenRecord:
    """What ``zkml serve token list`` shows of a token: never its secret, nor its hash."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created: float
    revoked: bool

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "created": self.created, "revoked": self.revoked}


def list_tokens(store: JobStore) -> list[TokenRecord]:
    """Every token, oldest first, live and revoked."""
    return [TokenRecord(i, n, tuple(s.split(",")), c, r) for i, n, s, c, r in store.token_rows()]


def revoke_token(store: JobStore, token_id: str) -> bool:
    """Revoke a token by id; False when there is none."""
    return store.revoke_token(token_id)
