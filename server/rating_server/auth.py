"""Who may call what: principals (a bearer token or a client certificate) and roles.

The access file (TOML, ``RATING_AUTH``) lists principals; tokens are stored only as
their SHA-256 (``rating-server auth hash-token`` prints it)::

    [[principals]]
    name = "agent-runtime"
    token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    roles = ["quote", "charge"]

    [[principals]]
    name = "billing-console"
    certificate = "billing-console"      # the client certificate's CN or a DNS SAN
    roles = ["read", "admin"]

Roles: ``quote`` (Quote, catalog reads), ``read`` (accounts, balances, charges,
statements), ``charge`` (CommitCharges, VoidCharge), ``admin`` (create and change
accounts, grant packs). Health and reflection need no role.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROLES = ("quote", "read", "charge", "admin")

ROLE_OF_METHOD = {
    "/rating.v1.RatingService/Quote": "quote",
    "/rating.v1.CatalogService/ListSkus": "quote",
    "/rating.v1.CatalogService/GetSku": "quote",
    "/rating.v1.AccountService/GetAccount": "read",
    "/rating.v1.AccountService/GetBalance": "read",
    "/rating.v1.AccountService/ListCharges": "read",
    "/rating.v1.AccountService/GetStatement": "read",
    "/rating.v1.RatingService/CommitCharges": "charge",
    "/rating.v1.RatingService/VoidCharge": "charge",
    "/rating.v1.AccountService/CreateAccount": "admin",
    "/rating.v1.AccountService/UpdateAccount": "admin",
    "/rating.v1.AccountService/GrantResourcePack": "admin",
}

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class AccessFileError(ValueError):
    """The access file is malformed; the message names the principal and field."""


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    roles: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessPolicy:
    """Principals by token hash and by certificate identity."""

    def __init__(
        self,
        by_token: dict[str, Principal],
        by_certificate: dict[str, Principal],
        reflection: bool = True,
    ) -> None:
        self._by_token = by_token
        self._by_certificate = by_certificate
        self.reflection = reflection

    @classmethod
    def load(cls, path: str | Path) -> AccessPolicy:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise AccessFileError(f"{path}: {error}") from None
        by_token: dict[str, Principal] = {}
        by_certificate: dict[str, Principal] = {}
        for index, body in enumerate(document.get("principals", [])):
            where = f"{path}: principals[{index}]"
            name = body.get("name")
            roles = body.get("roles")
            if not isinstance(name, str) or not name:
                raise AccessFileError(f"{where}.name: is required")
            if not isinstance(roles, list) or not set(roles) <= set(ROLES) or not roles:
                raise AccessFileError(f"{where}.roles: a list of {', '.join(ROLES)}")
            principal = Principal(name, frozenset(roles))
            token = body.get("token_sha256")
            certificate = body.get("certificate")
            if token is None and certificate is None:
                raise AccessFileError(f"{where}: needs token_sha256 or certificate")
            if token is not None:
                if not isinstance(token, str) or len(token) != 64:
                    raise AccessFileError(f"{where}.token_sha256: a SHA-256 in hex")
                by_token[token.lower()] = principal
            if certificate is not None:
                by_certificate[str(certificate)] = principal
        reflection = document.get("settings", {}).get("reflection", True)
        return cls(by_token, by_certificate, reflection=bool(reflection))

    def by_token(self, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._by_token.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None

    def by_certificate(self, identities: Iterable[str]) -> Principal | None:
        for identity in identities:
            principal = self._by_certificate.get(identity)
            if principal is not None:
                return principal
        return None
