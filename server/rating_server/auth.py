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
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("quote", "read", "charge", "admin")

ROLE_OF_METHOD = {
    "/rating.v1.RatingService/Quote": "quote",
    "/rating.v1.CatalogService/ListSkus": "quote",
    "/rating.v1.CatalogService/GetSku": "quote",
    "/rating.v1.RatingService/GetLimits": "quote",
    "/rating.v1.AccountService/GetAccount": "read",
    "/rating.v1.AccountService/GetBalance": "read",
    "/rating.v1.AccountService/ListCharges": "read",
    "/rating.v1.AccountService/GetStatement": "read",
    "/rating.v1.AccountService/WatchCharges": "read",
    "/rating.v1.AccountService/WatchBalance": "read",
    "/rating.v1.AccountService/GetAlertThresholds": "read",
    "/rating.v1.RatingService/CommitCharges": "charge",
    "/rating.v1.RatingService/VoidCharge": "charge",
    "/rating.v1.RatingService/Reserve": "charge",
    "/rating.v1.RatingService/Extend": "charge",
    "/rating.v1.RatingService/Release": "charge",
    "/rating.v1.AccountService/CreateAccount": "admin",
    "/rating.v1.AccountService/UpdateAccount": "admin",
    "/rating.v1.AccountService/GrantResourcePack": "admin",
    "/rating.v1.AccountService/GrantCapacity": "admin",
    "/rating.v1.AccountService/SetAlertThresholds": "admin",
}
# Health and reflection are open to every caller: the server registers them outside
# the guard.


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _only_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise AccessFileError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


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
        """Read an access file; AccessFileError names the entry and field that is wrong."""
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise AccessFileError(f"{path}: {error}") from None
        _only_keys(document, {"principals", "settings"}, f"{path}")
        principals = document.get("principals", [])
        if not isinstance(principals, list):
            raise AccessFileError(f"{path}: principals: an array of tables ([[principals]])")
        by_token: dict[str, Principal] = {}
        by_certificate: dict[str, Principal] = {}
        for index, body in enumerate(principals):
            where = f"{path}: principals[{index}]"
            if not isinstance(body, dict):
                raise AccessFileError(f"{where}: a table")
            _only_keys(body, {"name", "roles", "token_sha256", "certificate"}, where)
            name = body.get("name")
            roles = body.get("roles")
            if not isinstance(name, str) or not name:
                raise AccessFileError(f"{where}.name: is required")
            if (
                not isinstance(roles, list)
                or not roles
                or not all(isinstance(role, str) and role in ROLES for role in roles)
            ):
                raise AccessFileError(f"{where}.roles: a list of {', '.join(ROLES)}")
            principal = Principal(name, frozenset(roles))
            token = body.get("token_sha256")
            certificate = body.get("certificate")
            if token is None and certificate is None:
                raise AccessFileError(f"{where}: needs token_sha256 or certificate")
            if token is not None:
                if not isinstance(token, str) or not _SHA256.fullmatch(token):
                    raise AccessFileError(f"{where}.token_sha256: 64 hex digits (SHA-256)")
                if token.lower() in by_token:
                    raise AccessFileError(f"{where}.token_sha256: another principal has it")
                by_token[token.lower()] = principal
            if certificate is not None:
                if not isinstance(certificate, str) or not certificate:
                    raise AccessFileError(f"{where}.certificate: a certificate's CN or DNS name")
                if certificate in by_certificate:
                    raise AccessFileError(f"{where}.certificate: another principal has it")
                by_certificate[certificate] = principal
        settings = document.get("settings", {})
        if not isinstance(settings, dict):
            raise AccessFileError(f"{path}: settings: a table")
        _only_keys(settings, {"reflection"}, f"{path}: settings")
        reflection = settings.get("reflection", True)
        if not isinstance(reflection, bool):
            raise AccessFileError(f"{path}: settings.reflection: true or false")
        return cls(by_token, by_certificate, reflection=reflection)

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
