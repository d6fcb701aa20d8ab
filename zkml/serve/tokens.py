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
import time
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
    store.db.execute(
        "INSERT INTO tokens (id, name, token_hash, scopes, created) VALUES (?, ?, ?, ?, ?)",
        (token.id, name, hash_token(secret), ",".join(sorted(scopes)), time.time()),
    )
    return token, secret


def lookup_token(store: JobStore, secret: str) -> Token | None:
    """The live token with this secret, or None."""
    rows = store.db.execute("SELECT id, name, scopes FROM tokens WHERE token_hash = ? AND revoked = 0", (hash_token(secret),))
    if not rows:
        return None
    token_id, name, scopes = rows[0]
    return Token(str(token_id), str(name), frozenset(str(scopes).split(",")))


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
    rows = store.db.execute("SELECT id, name, scopes, created, revoked FROM tokens ORDER BY created, id")
    return [TokenRecord(str(i), str(n), tuple(str(s).split(",")), float(c), bool(r)) for i, n, s, c, r in rows]


def revoke_token(store: JobStore, token_id: str) -> bool:
    """Revoke a token by id; False when there is none."""
    rows = store.db.execute("UPDATE tokens SET revoked = 1 WHERE id = ? RETURNING id", (token_id,))
    return bool(rows)
