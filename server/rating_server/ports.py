"""Claiming the address a server listens on, so that no second server shares it.

A server binds its gRPC listeners with SO_REUSEPORT, so that its workers can share
the port; but Linux then lets any process of the same user bind that port too, and
two rating servers on one port would split the connections between two ledgers. So
a server first claims its address, and only then lets gRPC bind it:

- It resolves the host itself and claims every address the name resolves to
  (``localhost`` may be both 127.0.0.1 and ::1). gRPC is given those numeric
  addresses, never the name, so it binds exactly what was claimed: a name whose
  first address is taken is refused, not served on the address that was free.
- On each address it holds a socket bound with SO_REUSEPORT but not listening. A
  program that binds the port without SO_REUSEPORT is refused by the kernel; the
  server's own listeners, and its workers', which all use SO_REUSEPORT, may join.
- It holds a lock named for the port number: an abstract Unix socket,
  ``rating-server:port:N``, in the network namespace the port belongs to, which the
  kernel lets go of when the process ends however it ends. A second rating server on
  the port, on any of the machine's addresses, is refused.

Because every server, one process or several, listens with SO_REUSEPORT, the
connections a stopped server leaves in TIME_WAIT never stand in the way of the next
server's claim, whatever its number of workers.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


class ListenError(Exception):
    """The address cannot be claimed; the message says why and names the address."""


def parse_listen(listen: str) -> tuple[str, int]:
    """Split host:port, refusing a port gRPC would silently wrap (99999 -> 34463)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenError(f"cannot listen on {listen!r}: expected host:port, port 0 to 65535")
    return host, int(port)


@dataclass
class PortClaim:
    """A claimed address: ``addresses`` are what gRPC binds (numeric, one per address
    the host resolved to), all on ``port``."""

    host: str
    port: int
    addresses: tuple[str, ...]
    _held: list[socket.socket] = field(default_factory=list, repr=False)

    @property
    def address(self) -> str:
        """host:port as the operator wrote it, with the port the system chose for 0."""
        return f"{self.host}:{self.port}"

    def shared(self) -> PortClaim:
        """The claim as the workers get it: the same addresses, none of the sockets
        (the supervisor holds those)."""
        return PortClaim(self.host, self.port, self.addresses)

    def close(self) -> None:
        """Let go of the claim (once the listeners are closed)."""
        for held in self._held:
            held.close()
        self._held.clear()


def claim(listen: str) -> PortClaim:
    """Claim host:port for this server; ListenError if it is taken or cannot be bound."""
    host, port = parse_listen(listen)
    try:
        resolved = _resolve(host, port)
    except OSError as error:
        raise ListenError(f"cannot listen on {listen}: cannot resolve {host!r}: {error}") from None
    held: list[socket.socket] = []
    chosen = port == 0
    try:
        if not chosen:
            held.append(_lock(listen, port))
        for family, address in resolved:
            held.append(_reserve(listen, family, address, port))
            port = held[-1].getsockname()[1]  # port 0: the first address chooses it
        if chosen:
            held.append(_lock(listen, port))
    except BaseException:
        for opened in held:
            opened.close()
        raise
    addresses = tuple(_grpc_address(family, address, port) for family, address in resolved)
    return PortClaim(host, port, addresses, held)


def _resolve(host: str, port: int) -> list[tuple[socket.AddressFamily, str]]:
    """Every distinct address ``host`` resolves to for a listening TCP socket."""
    found = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    resolved: list[tuple[socket.AddressFamily, str]] = []
    for family, _, _, _, sockaddr in found:
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr[0]) not in resolved:
            resolved.append((family, str(sockaddr[0])))
    if not resolved:
        raise OSError(f"{host!r} has no IPv4 or IPv6 address")
    return resolved


def _lock(listen: str, port: int) -> socket.socket:
    """The lock on ``port`` that every rating server takes before it listens there."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0rating-server:port:{port}")
    except OSError:
        lock.close()
        raise ListenError(
            f"cannot listen on {listen}: another rating server holds port {port}"
        ) from None
    return lock


def _reserve(listen: str, family: socket.AddressFamily, address: str, port: int) -> socket.socket:
    """A socket bound to address:port with SO_REUSEPORT, not listening."""
    reservation = socket.socket(family, socket.SOCK_STREAM)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind((address, port))
    except OSError as error:
        reservation.close()
        where = _grpc_address(family, address, port)
        raise ListenError(f"cannot listen on {listen}: {where}: {error.strerror}") from None
    return reservation


def _grpc_address(family: socket.AddressFamily, address: str, port: int) -> str:
    return f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
