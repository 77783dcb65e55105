"""Who may call what, over which transport, on the real server in this process.

- Roles: every rating.v1 RPC is called with a token of each single role, of several
  roles, with no credentials and with a wrong token; only the role in
  ``auth.ROLE_OF_METHOD`` gets past the guard.
- Health and reflection stay open to probes; the access file can close reflection.
- TLS with a server certificate for "localhost"; mTLS with a good, an unmapped, a
  missing and a foreign client certificate, and a bearer token that wins over one.
- A bad access file stops the start with the field named.

Every certificate is made here, in a temporary directory; nothing is committed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from security_setup import (
    ACCOUNT,
    CALL_TIMEOUT,
    CLI_TIMEOUT,
    NO_ACCOUNT,
    NOT_FOUND,
    QUOTER,
    RPCS,
    UNAUTHENTICATED,
    WRONG_TOKEN,
    Caller,
    Entry,
    Metadata,
    Rpc,
    call,
    code_of,
    sha256_hex,
    usage_item,
    write_access_file,
)
from support import NewDatabase, rich_error, running, seeded_database

from rating import RatingClient
from rating.errors import (
    NotFoundError,
    PermissionDeniedError,
    RatingError,
    UnauthenticatedError,
    UnavailableError,
)
from rating.options import ClientOptions
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    catalog_service_pb2,
    rating_service_pb2,
    rating_service_pb2_grpc,
)
from rating_server import auth
from rating_server.config import Settings
from rating_server.server import RatingServer, StartupError, create_server

GRPCURL = Path(sys.executable).parent / "grpcurl"
PAST_DAY = "2025-06-02"
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
READER = Caller("read-only", ("read",))
CHARGER = Caller("charge-only", ("charge",))
ADMIN = Caller("admin-only", ("admin",))
CALLERS = (
    QUOTER,
    READER,
    CHARGER,
    ADMIN,
    Caller("quote-and-charge", ("quote", "charge")),
    Caller("read-and-admin", ("read", "admin")),
    Caller("every-role", auth.ROLES),
)
ALLOWED = [
    pytest.param(rpc, caller, id=f"{rpc.name}-by-{caller.name}")
    for rpc in RPCS
    for caller in CALLERS
    if rpc.role in caller.roles
]
DENIED = [
    pytest.param(rpc, caller, id=f"{rpc.name}-by-{caller.name}")
    for rpc in RPCS
    for caller in CALLERS
    if rpc.role not in caller.roles
]
EVERY_RPC = [pytest.param(rpc, id=rpc.name) for rpc in RPCS]


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return builder.not_valid_before(now - timedelta(days=1)).not_valid_after(
        now + timedelta(days=1)
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Identity:
    certificate: bytes  # PEM
    key: bytes  # PEM


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        return cls(key, _validity(builder).sign(key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, common_name: str, *, dns_names: Sequence[str] = (), server: bool = False
    ) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        if server:
            names.append(x509.IPAddress(IPv4Address("127.0.0.1")))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = _validity(builder).sign(self.key, hashes.SHA256())
        return Identity(certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key))


@dataclass(frozen=True)
class Pki:
    directory: Path
    server_ca: Authority
    client_ca: Authority
    server: Identity
    # Client certificates: signed by the client CA and mapped by CN, by DNS SAN, or not
    # mapped at all; and one with the mapped CN signed by a CA the server does not trust.
    console: Identity
    console_by_san: Identity
    stranger: Identity
    foreign: Identity

    @property
    def server_cert_file(self) -> str:
        return str(self.directory / "server.crt")

    @property
    def server_key_file(self) -> str:
        return str(self.directory / "server.key")

    @property
    def client_ca_file(self) -> str:
        return str(self.directory / "client-ca.crt")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    server_ca = Authority.create("rating test server CA")
    client_ca = Authority.create("rating test client CA")
    foreign_ca = Authority.create("someone else's CA")
    pki = Pki(
        directory=tmp_path_factory.mktemp("pki"),
        server_ca=server_ca,
        client_ca=client_ca,
        server=server_ca.issue("localhost", dns_names=["localhost"], server=True),
        console=client_ca.issue("billing-console"),
        console_by_san=client_ca.issue("unmapped-cn", dns_names=["console.billing.internal"]),
        stranger=client_ca.issue("stranger"),
        foreign=foreign_ca.issue("billing-console"),
    )
    Path(pki.server_cert_file).write_bytes(pki.server.certificate)
    Path(pki.server_key_file).write_bytes(pki.server.key)
    Path(pki.client_ca_file).write_bytes(pki.client_ca.pem)
    return pki


# ---------------------------------------------------------------------------
# In-process servers, one per module each, and per engine: the calls that pass the
# guard read and write the ledger. (The tests of the start-up checks, the access file
# and the access log reach no ledger, and run on a SQLite file.)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authed_server(
    tmp_path_factory: pytest.TempPathFactory, new_database: NewDatabase
) -> Iterator[RatingServer]:
    """Plaintext on loopback, an access file with every caller of the matrix."""
    directory = tmp_path_factory.mktemp("authed")
    access = write_access_file(directory / "access.toml", (c.entry() for c in CALLERS))
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=new_database("authed"),
        auth_file=str(access),
    )
    with running(settings) as server:
        yield server


@pytest.fixture(scope="module")
def authed_channel(authed_server: RatingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(authed_server.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def tls_server(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, new_database: NewDatabase
) -> Iterator[RatingServer]:
    """TLS with a certificate for "localhost"; no client certificate asked for."""
    directory = tmp_path_factory.mktemp("tls")
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=new_database("tls"),
        auth_file=str(write_access_file(directory / "access.toml", [QUOTER.entry()])),
        tls_cert=pki.server_cert_file,
        tls_key=pki.server_key_file,
    )
    with running(settings) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory, new_database: NewDatabase
) -> Iterator[RatingServer]:
    """mTLS: a client certificate signed by the client CA is required."""
    directory = tmp_path_factory.mktemp("mtls")
    entries = [
        Entry("billing-console", ["read"], certificate="billing-console"),
        Entry("console-by-san", ["quote"], certificate="console.billing.internal"),
        QUOTER.entry(),
    ]
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=new_database("mtls"),
        auth_file=str(write_access_file(directory / "access.toml", entries)),
        tls_cert=pki.server_cert_file,
        tls_key=pki.server_key_file,
        tls_client_ca=pki.client_ca_file,
    )
    with running(settings) as server:
        yield server


def tls_client(
    server: RatingServer,
    pki: Pki,
    *,
    client: Identity | None = None,
    token: str | None = None,
    target_host: str = "localhost",
    server_name: str | None = None,
    default_roots: bool = False,
) -> RatingClient:
    options = ClientOptions(
        target=f"{target_host}:{server.port}",
        timeout=CALL_TIMEOUT,
        max_attempts=1,  # a refused handshake fails at once instead of being retried
        tls=True,
        root_certificates=None if default_roots else pki.server_ca.pem,
        certificate_chain=client.certificate if client else None,
        private_key=client.key if client else None,
        server_name=server_name,
        token=token,
    )
    return RatingClient(options=options)


def quote_points(client: RatingClient) -> str:
    return str(client.quote([usage_item()]).total_points)


def denial(error: RatingError) -> tuple[str, dict[str, str]]:
    return error.reason, dict(error.metadata)


# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------


def test_the_table_names_every_rating_v1_rpc_with_the_role_it_needs() -> None:
    declared = {
        f"/{service.full_name}/{method.name}"
        for module in (rating_service_pb2, account_service_pb2, catalog_service_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    table = {rpc.path: rpc.role for rpc in RPCS}
    assert set(table) == declared
    assert table == auth.ROLE_OF_METHOD
    assert len(ALLOWED) + len(DENIED) == len(RPCS) * len(CALLERS)


@pytest.mark.parametrize(("rpc", "caller"), ALLOWED)
def test_a_token_whose_principal_holds_the_methods_role_passes_the_guard(
    authed_channel: grpc.Channel, rpc: Rpc, caller: Caller
) -> None:
    error = call(authed_channel, rpc, caller.metadata)
    assert code_of(error) == rpc.passed, error
    assert code_of(error) not in (UNAUTHENTICATED, PERMISSION_DENIED)


@pytest.mark.parametrize(("rpc", "caller"), DENIED)
def test_a_token_whose_principal_lacks_the_methods_role_gets_permission_denied_role_missing(
    authed_channel: grpc.Channel, rpc: Rpc, caller: Caller
) -> None:
    error = call(authed_channel, rpc, caller.metadata)
    assert error is not None, f"{caller.name} called {rpc.name}"
    details = rich_error(error)
    assert details.code == PERMISSION_DENIED
    assert details.info.reason == "ROLE_MISSING"
    assert details.info.domain == "rating"
    assert dict(details.info.metadata) == {"principal": caller.name, "role": rpc.role}
    assert rpc.name in details.message


def test_the_feed_of_every_account_needs_the_admin_role_beside_read(
    authed_channel: grpc.Channel,
) -> None:
    watch = authed_channel.unary_stream(
        ACCOUNT + "WatchCharges",
        request_serializer=account_service_pb2.WatchChargesRequest.SerializeToString,
        response_deserializer=account_service_pb2.WatchChargesResponse.FromString,
    )
    every = account_service_pb2.WatchChargesRequest(account_id="")
    with pytest.raises(grpc.RpcError) as refused:
        next(watch(every, timeout=CALL_TIMEOUT, metadata=READER.metadata))
    details = rich_error(refused.value)
    assert (details.code, details.info.reason) == (PERMISSION_DENIED, "ROLE_MISSING")
    assert dict(details.info.metadata) == {"principal": READER.name, "role": "admin"}
    admitted = watch(every, timeout=CALL_TIMEOUT, metadata=CALLERS[5].metadata)
    assert next(admitted).cursor  # read-and-admin: the stream starts
    admitted.cancel()


@pytest.mark.parametrize("rpc", EVERY_RPC)
def test_a_call_without_credentials_gets_unauthenticated_credentials_missing(
    authed_channel: grpc.Channel, rpc: Rpc
) -> None:
    error = call(authed_channel, rpc)
    assert error is not None
    details = rich_error(error)
    assert (details.code, details.info.reason) == (UNAUTHENTICATED, "CREDENTIALS_MISSING")


@pytest.mark.parametrize("rpc", EVERY_RPC)
def test_a_token_nobody_holds_gets_unauthenticated_token_invalid(
    authed_channel: grpc.Channel, rpc: Rpc
) -> None:
    error = call(authed_channel, rpc, (("authorization", f"Bearer {WRONG_TOKEN}"),))
    assert error is not None
    details = rich_error(error)
    assert (details.code, details.info.reason) == (UNAUTHENTICATED, "TOKEN_INVALID")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {sha256_hex(QUOTER.token)}", id="the-stored-hash-as-token"),
        pytest.param(QUOTER.token, id="token-without-scheme"),
        pytest.param(f"Basic {QUOTER.token}", id="basic-scheme"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param(f"Bearer {QUOTER.token}x", id="token-with-a-char-more"),
    ],
)
def test_an_authorization_header_that_is_not_a_known_bearer_token_is_token_invalid(
    authed_channel: grpc.Channel, authorization: str
) -> None:
    error = call(authed_channel, RPCS[0], (("authorization", authorization),))
    assert error is not None
    details = rich_error(error)
    assert (details.code, details.info.reason) == (UNAUTHENTICATED, "TOKEN_INVALID")


def test_callers_without_the_role_cannot_create_grant_commit_or_void_and_nothing_changes(
    authed_channel: grpc.Channel,
) -> None:
    accounts = account_service_pb2_grpc.AccountServiceStub(authed_channel)
    rating = rating_service_pb2_grpc.RatingServiceStub(authed_channel)
    account = "acct-roles-writes"

    def refused(method: grpc.UnaryUnaryMultiCallable, request: Message, caller: Caller) -> None:
        with pytest.raises(grpc.RpcError) as raised:
            method(request, timeout=CALL_TIMEOUT, metadata=caller.metadata)
        assert rich_error(raised.value).info.reason == "ROLE_MISSING"

    def charges() -> int:
        request = account_service_pb2.ListChargesRequest(account_id=account)
        response = accounts.ListCharges(request, timeout=CALL_TIMEOUT, metadata=READER.metadata)
        return len(response.charges)

    create = account_service_pb2.CreateAccountRequest(account_id=account)
    for caller in (QUOTER, READER, CHARGER):
        refused(accounts.CreateAccount, create, caller)
    with pytest.raises(grpc.RpcError) as missing:
        accounts.GetAccount(
            account_service_pb2.GetAccountRequest(account_id=account),
            timeout=CALL_TIMEOUT,
            metadata=READER.metadata,
        )
    assert code_of(missing.value) == NOT_FOUND
    accounts.CreateAccount(create, timeout=CALL_TIMEOUT, metadata=ADMIN.metadata)

    grant = account_service_pb2.GrantResourcePackRequest(
        account_id=account, points="1000", request_id="req-roles-pack"
    )
    commit = rating_service_pb2.CommitChargesRequest(
        request_id="req-roles-commit", items=[usage_item(account_id=account)]
    )
    capacity = account_service_pb2.GrantCapacityRequest(
        account_id=account,
        gib=5,
        term=account_service_pb2.CAPACITY_TERM_MONTH,
        price_points="0",
        request_id="req-roles-capacity",
    )
    for caller in (QUOTER, READER, CHARGER):
        refused(accounts.GrantResourcePack, grant, caller)
        refused(accounts.GrantCapacity, capacity, caller)
    for caller in (QUOTER, READER, ADMIN):
        refused(rating.CommitCharges, commit, caller)
    balance = accounts.GetBalance(
        account_service_pb2.GetBalanceRequest(account_id=account, day=PAST_DAY),
        timeout=CALL_TIMEOUT,
        metadata=READER.metadata,
    )
    assert list(balance.packs) == []
    assert list(balance.capacity_purchases) == []
    assert charges() == 0

    charge_id = rating.CommitCharges(
        commit, timeout=CALL_TIMEOUT, metadata=CHARGER.metadata
    ).charge_id
    assert charges() == 1
    void = rating_service_pb2.VoidChargeRequest(charge_id=charge_id, reason="roles test")
    for caller in (QUOTER, READER, ADMIN):
        refused(rating.VoidCharge, void, caller)
    voided = rating.VoidCharge(void, timeout=CALL_TIMEOUT, metadata=CHARGER.metadata)
    assert not voided.already_voided  # the refused voids did nothing


# ---------------------------------------------------------------------------
# Health and reflection
# ---------------------------------------------------------------------------


def health_status(address: str, metadata: Metadata = ()) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="rating.v1.RatingService")
        return stub.Check(request, timeout=CALL_TIMEOUT, metadata=metadata).status


def grpcurl_list(address: str, *headers: str) -> subprocess.CompletedProcess[str]:
    assert GRPCURL.is_file(), f"{GRPCURL} is missing: install the dev extras"
    flags = [argument for header in headers for argument in ("-H", header)]
    return subprocess.run(
        [str(GRPCURL), "-plaintext", *flags, address, "list"],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", f"Bearer {WRONG_TOKEN}"),)],
    ids=["no-credentials", "wrong-token"],
)
def test_health_check_answers_serving_without_valid_credentials(
    authed_server: RatingServer, metadata: Metadata
) -> None:
    assert health_status(authed_server.address, metadata) == health_pb2.HealthCheckResponse.SERVING


def test_grpcurl_lists_the_services_through_reflection_without_credentials(
    authed_server: RatingServer,
) -> None:
    listed = grpcurl_list(authed_server.address)
    assert listed.returncode == 0, listed.stderr
    assert {
        "rating.v1.RatingService",
        "rating.v1.AccountService",
        "rating.v1.CatalogService",
        "grpc.health.v1.Health",
    } <= set(listed.stdout.split())


def test_reflection_false_in_the_access_file_closes_reflection_while_health_and_roles_work(
    tmp_path: Path,
) -> None:
    access = write_access_file(tmp_path / "access.toml", [QUOTER.entry()], reflection=False)
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "rating.db")),
        auth_file=str(access),
    )
    with running(settings) as server:
        listed = grpcurl_list(server.address, f"authorization: Bearer {QUOTER.token}")
        assert listed.returncode != 0, listed.stdout
        assert "does not support the reflection API" in listed.stderr
        assert health_status(server.address) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(server.address) as channel:
            assert call(channel, RPCS[0], QUOTER.metadata) is None
            assert code_of(call(channel, RPCS[0])) == UNAUTHENTICATED


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target_host", "server_name"),
    [("localhost", None), ("127.0.0.1", "localhost")],
    ids=["target-localhost", "ip-target-with-server-name-override"],
)
def test_tls_client_trusting_the_test_ca_quotes_with_its_token(
    tls_server: RatingServer, pki: Pki, target_host: str, server_name: str | None
) -> None:
    client = tls_client(
        tls_server, pki, token=QUOTER.token, target_host=target_host, server_name=server_name
    )
    with client:
        assert quote_points(client) == "0.3702"
        with pytest.raises(PermissionDeniedError) as denied:
            client.get_balance(NO_ACCOUNT)
    assert denial(denied.value) == ("ROLE_MISSING", {"principal": QUOTER.name, "role": "read"})


def test_tls_client_without_a_token_is_unauthenticated(tls_server: RatingServer, pki: Pki) -> None:
    with tls_client(tls_server, pki) as client, pytest.raises(UnauthenticatedError) as raised:
        quote_points(client)
    assert raised.value.reason == "CREDENTIALS_MISSING"


def test_plaintext_client_to_the_tls_port_is_unavailable(tls_server: RatingServer) -> None:
    options = ClientOptions(
        target=tls_server.address, timeout=CALL_TIMEOUT, max_attempts=1, token=QUOTER.token
    )
    with RatingClient(options=options) as client, pytest.raises(UnavailableError):
        quote_points(client)


@pytest.mark.parametrize(
    ("server_name", "default_roots"),
    [("billing.example", False), (None, True)],
    ids=["certificate-for-another-name", "test-ca-not-trusted-default-roots"],
)
def test_tls_client_refuses_a_server_certificate_it_cannot_verify(
    tls_server: RatingServer, pki: Pki, server_name: str | None, default_roots: bool
) -> None:
    client = tls_client(
        tls_server, pki, token=QUOTER.token, server_name=server_name, default_roots=default_roots
    )
    with client, pytest.raises(UnavailableError):
        quote_points(client)


# ---------------------------------------------------------------------------
# mTLS
# ---------------------------------------------------------------------------


def test_mtls_certificate_mapped_by_common_name_gets_exactly_its_principals_roles(
    mtls_server: RatingServer, pki: Pki
) -> None:
    with tls_client(mtls_server, pki, client=pki.console) as client:
        with pytest.raises(NotFoundError):  # past the guard: the read role
            client.get_balance(NO_ACCOUNT)
        with pytest.raises(PermissionDeniedError) as denied:
            quote_points(client)
    assert denial(denied.value) == (
        "ROLE_MISSING",
        {"principal": "billing-console", "role": "quote"},
    )


def test_mtls_certificate_mapped_by_dns_subject_alternative_name_gets_its_roles(
    mtls_server: RatingServer, pki: Pki
) -> None:
    with tls_client(mtls_server, pki, client=pki.console_by_san) as client:
        assert quote_points(client) == "0.3702"
        with pytest.raises(PermissionDeniedError) as denied:
            client.get_balance(NO_ACCOUNT)
    assert denial(denied.value) == ("ROLE_MISSING", {"principal": "console-by-san", "role": "read"})


def test_mtls_good_certificate_not_in_the_access_file_is_unauthenticated(
    mtls_server: RatingServer, pki: Pki
) -> None:
    with (
        tls_client(mtls_server, pki, client=pki.stranger) as client,
        pytest.raises(UnauthenticatedError) as raised,
    ):
        quote_points(client)
    assert raised.value.reason == "CREDENTIALS_MISSING"


def test_mtls_without_a_client_certificate_fails_the_handshake(
    mtls_server: RatingServer, pki: Pki
) -> None:
    # Even a valid token does not stand in for the required certificate.
    with (
        tls_client(mtls_server, pki, token=QUOTER.token) as client,
        pytest.raises(UnavailableError),
    ):
        quote_points(client)


def test_mtls_certificate_with_a_mapped_name_but_a_foreign_ca_fails_the_handshake(
    mtls_server: RatingServer, pki: Pki
) -> None:
    with (
        tls_client(mtls_server, pki, client=pki.foreign) as client,
        pytest.raises(UnavailableError),
    ):
        client.get_balance(NO_ACCOUNT)


def test_mtls_bearer_token_wins_over_the_client_certificate(
    mtls_server: RatingServer, pki: Pki
) -> None:
    # The certificate alone may read but not quote; the token may quote but not read.
    with tls_client(mtls_server, pki, client=pki.console, token=QUOTER.token) as client:
        assert quote_points(client) == "0.3702"
        with pytest.raises(PermissionDeniedError) as denied:
            client.get_balance(NO_ACCOUNT)
    assert denial(denied.value) == ("ROLE_MISSING", {"principal": QUOTER.name, "role": "read"})


def test_mtls_wrong_bearer_token_is_refused_even_with_a_good_certificate(
    mtls_server: RatingServer, pki: Pki
) -> None:
    with (
        tls_client(mtls_server, pki, client=pki.console, token=WRONG_TOKEN) as client,
        pytest.raises(UnauthenticatedError) as raised,
    ):
        client.get_balance(NO_ACCOUNT)
    assert raised.value.reason == "TOKEN_INVALID"


def test_tls_alone_is_enough_to_listen_on_all_interfaces(pki: Pki, tmp_path: Path) -> None:
    settings = Settings(
        listen="0.0.0.0:0",
        db_path=str(seeded_database(tmp_path / "rating.db")),
        tls_cert=pki.server_cert_file,
        tls_key=pki.server_key_file,
    )
    with running(settings) as server:
        assert server.port > 0


GOOD_HASH = sha256_hex("a-token-in-a-bad-file")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = ["quote", "superuser"]',
            "principals[0].roles",
            id="unknown-role",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = []',
            "principals[0].roles",
            id="no-role",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = "quote"',
            "principals[0].roles",
            id="roles-not-a-list",
        ),
        pytest.param(
            'name = "a"\nroles = ["quote"]',
            "principals[0]: needs token_sha256 or certificate",
            id="neither-token-nor-certificate",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH[:40]}"\nroles = ["quote"]',
            "principals[0].token_sha256",
            id="token-hash-too-short",
        ),
        pytest.param(
            f'token_sha256 = "{GOOD_HASH}"\nroles = ["quote"]',
            "principals[0].name",
            id="no-name",
        ),
        pytest.param(
            f'name = "ok"\ncertificate = "console"\nroles = ["read"]\n\n[[principals]]\n'
            f'name = "b"\ntoken_sha256 = "{GOOD_HASH}"\nroles = ["root"]',
            "principals[1].roles",
            id="second-principal-named-by-index",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = [["quote"]]',
            "principals[0].roles",
            id="roles-nested",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{"z" * 64}"\nroles = ["quote"]',
            "principals[0].token_sha256",
            id="token-hash-not-hex",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = ["quote"]\n\n[[principals]]\n'
            f'name = "b"\ntoken_sha256 = "{GOOD_HASH}"\nroles = ["admin"]',
            "principals[1].token_sha256: another principal has it",
            id="two-principals-one-token",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha265 = "{GOOD_HASH}"\nroles = ["quote"]',
            "principals[0]: unknown key 'token_sha265'",
            id="misspelled-key",
        ),
        pytest.param(
            f'name = "a"\ntoken_sha256 = "{GOOD_HASH}"\nroles = ["quote"]\n\n'
            '[settings]\nreflection = "false"',
            "settings.reflection: true or false",
            id="reflection-as-a-string",
        ),
    ],
)
def test_a_bad_access_file_stops_the_start_with_the_field_named_and_no_hash_echoed(
    tmp_path: Path, body: str, field: str
) -> None:
    access = tmp_path / "access.toml"
    access.write_text("[[principals]]\n" + body + "\n")
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "rating.db")),
        auth_file=str(access),
    )
    with pytest.raises(StartupError) as raised:
        create_server(settings)
    message = str(raised.value)
    assert message.startswith(f"bad access file: {access}: ")
    assert field in message
    assert GOOD_HASH[:16] not in message


@pytest.mark.parametrize(
    "content", [None, "[[principals]\nname = "], ids=["missing-file", "not-toml"]
)
def test_an_unreadable_access_file_stops_the_start_naming_the_file(
    tmp_path: Path, content: str | None
) -> None:
    access = tmp_path / "access.toml"
    if content is not None:
        access.write_text(content)
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "rating.db")),
        auth_file=str(access),
    )
    with pytest.raises(StartupError, match=f"^bad access file: {access}: "):
        create_server(settings)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('principals = ["a"]', "principals[0]: a table"),
        ("settings = 1", "settings: a table"),
        ('[[principal]]\nname = "a"', "unknown key 'principal'"),
    ],
    ids=["principal-not-a-table", "settings-not-a-table", "misspelled-table"],
)
def test_an_access_file_of_the_wrong_shape_is_named_not_a_traceback(
    tmp_path: Path, content: str, field: str
) -> None:
    access = tmp_path / "access.toml"
    access.write_text(content + "\n")
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "rating.db")),
        auth_file=str(access),
    )
    with pytest.raises(StartupError) as raised:
        create_server(settings)
    assert field in str(raised.value)
