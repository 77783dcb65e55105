"""Claiming a server's address (``ports.py``): no second server, of any kind, shares it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from rating_server import ports


def bound(reuseaddr: bool, reuseport: bool, port: int, listen: bool = True) -> socket.socket:
    sock = socket.socket()
    if reuseaddr:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
        if listen:
            sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


@pytest.fixture
def claim() -> Iterator[ports.PortClaim]:
    held = ports.claim("127.0.0.1:0")
    yield held
    held.close()


def test_port_0_claims_a_free_port_and_names_the_numeric_addresses_grpc_binds(
    claim: ports.PortClaim,
) -> None:
    assert claim.port > 0
    assert claim.address == f"127.0.0.1:{claim.port}"
    assert claim.addresses == (f"127.0.0.1:{claim.port}",)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0"])
def test_a_second_claim_on_the_port_is_refused_whatever_address_names_it(
    claim: ports.PortClaim, host: str
) -> None:
    with pytest.raises(ports.ListenError, match=f"another rating server holds port {claim.port}"):
        ports.claim(f"{host}:{claim.port}")


def test_the_servers_own_listeners_may_join_its_claim(claim: ports.PortClaim) -> None:
    # What gRPC does for the server and each of its workers: SO_REUSEADDR and SO_REUSEPORT.
    bound(True, True, claim.port).close()


@pytest.mark.parametrize(
    "reuseaddr", [False, True], ids=["plain", "SO_REUSEADDR (a gRPC server without reuseport)"]
)
def test_a_program_listening_without_so_reuseport_is_refused(
    claim: ports.PortClaim, reuseaddr: bool
) -> None:
    with pytest.raises(OSError):
        bound(reuseaddr, False, claim.port).close()


def test_a_released_claim_can_be_claimed_again() -> None:
    first = ports.claim("127.0.0.1:0")
    first.close()
    again = ports.claim(first.address)
    assert again.port == first.port
    again.close()


def test_a_name_is_claimed_on_every_address_it_resolves_to_and_refused_if_one_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    both = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 0, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: both)
    claim = ports.claim("localhost:0")
    assert claim.addresses == (f"[::1]:{claim.port}", f"127.0.0.1:{claim.port}")
    claim.close()
    with bound(False, False, 0) as taken:
        port = taken.getsockname()[1]
        # 127.0.0.1 is taken and ::1 free: refused, not served on ::1 alone.
        with pytest.raises(ports.ListenError, match=rf"127\.0\.0\.1:{port}: "):
            ports.claim(f"localhost:{port}")
    ports.claim(f"[::1]:{port}").close()  # and what it had claimed is let go


def test_connections_a_stopped_server_left_in_time_wait_do_not_block_the_next_claim() -> None:
    claim = ports.claim("127.0.0.1:0")
    listener = bound(True, True, claim.port)
    client = socket.create_connection(("127.0.0.1", claim.port))
    accepted, _ = listener.accept()
    accepted.close()  # the server closes first: its side of the connection waits
    listener.close()
    claim.close()
    client.close()
    again = ports.claim(claim.address)
    again.close()
