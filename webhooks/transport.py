"""The one way a webhook leaves the machine: an HTTP POST that never reaches the inside.

``check_url`` vets a URL at registration (no DNS: a name's addresses change);
``post`` vets it again, resolves the host once, refuses when any address is not
public, and connects to exactly the address it checked, so a DNS answer that changes
between the check and the connection (rebinding) cannot redirect the request.

Which addresses are refused: everything ``ipaddress`` does not call global, plus
multicast, reserved, site-local, 192.0.0.0/24 and 100.64.0.0/10 (some Python
versions call parts of these global), IPv6 addresses that carry an IPv4 address
(IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4) judged by the IPv4 they carry, and the
cloud metadata addresses. ``allow_private`` (local testing) lifts the public check
but never the metadata one: a metadata service hands out the machine's credentials.

Redirects are never followed, the whole attempt is bounded by ``timeout`` (a server
trickling bytes cannot hold a worker), and no more than ``BODY_LIMIT`` bytes of the
answer are read. Failures raise ``TransportError`` with a short, fixed reason that
is safe to show the webhook's owner (no address, header or secret in it).
"""

import http.client
import io
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

# (host, port) -> the host's addresses as strings; tests inject their own.
Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

URL_MAX_LENGTH: Final = 2000
# The delivery log keeps the first 1 KB of an answer; nothing more is read.
BODY_LIMIT: Final = 1024

METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack instance metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer: a public-range address that is internal
        "192.0.0.192",  # Oracle Cloud metadata
    )
)

# Not global whatever the Python version says (older ones call some of these global).
_ALWAYS_REFUSED: Final = tuple(
    ipaddress.ip_network(network)
    for network in ("100.64.0.0/10", "192.0.0.0/24", "64:ff9b:1::/48", "2001::/23", "fec0::/10")
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")

_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# WHATWG URL rule: a host whose last label is a number is an IPv4 address
# (`127.1`, `0x7f.1`, `2130706433` all reach 127.0.0.1 through getaddrinfo).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
# Framing and routing are the transport's: a caller's Host must not contradict the URL.
_TRANSPORT_HEADERS: Final = frozenset({"host", "connection", "content-length", "transfer-encoding"})


class UnsafeURLError(ValueError):
    """A URL webhooks may not be sent to; the message fits a 400 field error."""


class TransportError(Exception):
    """A delivery attempt that produced no answer; ``reason`` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryRefused(TransportError):
    """Refused before any connection: nothing left the machine."""


class UnsafeURLRefused(DeliveryRefused, UnsafeURLError):
    """``post`` was given a URL ``check_url`` refuses (the rules or settings changed)."""


class UnsafeAddressError(DeliveryRefused):
    """The host resolved to an address that is not public or is a metadata service.

    ``address`` is for the server's log only: showing it to the webhook's owner would
    let them read the internal DNS.
    """

    def __init__(self, reason: str, *, address: str) -> None:
        super().__init__(reason)
        self.address = address


class Headers(Mapping[str, str]):
    """An answer's headers, looked up case-insensitively; repeated ones joined by ", "."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        joined: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        self._items = joined

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver answered: any status (a 3xx is not followed), at most 1 KB of body."""

    status: int
    headers: Headers
    body: bytes
    duration: float


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA), as sent in Host and used for SNI and certificate checks
    port: int
    path: str  # the request target: path and query
    ip: IPAddress | None  # set when the host is an IP literal


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is on the public Internet (metadata addresses aside)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    return (
        address.is_global
        and not address.is_private
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and not address.is_loopback
        and not address.is_unspecified
        and not (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        and not any(address in network for network in _ALWAYS_REFUSED)
    )


def is_metadata_address(address: IPAddress) -> bool:
    """Whether ``address`` is a cloud metadata service, also when carried in IPv6."""
    embedded = _embedded_ipv4(address)
    return address in METADATA_ADDRESSES or (
        embedded is not None and embedded in METADATA_ADDRESSES
    )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    # These IPv6 forms are delivered to the IPv4 address they carry.
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    if is_metadata_address(address):
        return "a cloud metadata address"
    if not allow_private and not is_public_address(address):
        return "not a public address"
    return None


def _parse(url: str, *, allow_http: bool, allow_private: bool) -> _Target:
    if len(url) > URL_MAX_LENGTH:
        raise UnsafeURLError(f"Ensure the URL has at most {URL_MAX_LENGTH} characters.")
    # urlsplit silently drops tabs and newlines; a URL holding them is refused instead.
    if _UNSAFE_CHARACTERS.search(url):
        raise UnsafeURLError("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnsafeURLError("Enter a valid URL.") from exc
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError("The URL's port must be a number between 1 and 65535.") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURLError(
            "The URL must start with https:// or http://."
            if allow_http
            else "The URL must start with https://."
        )
    if "@" in parts.netloc:
        raise UnsafeURLError("The URL must not contain a user name or password.")
    if "#" in url:
        raise UnsafeURLError("The URL must not contain a fragment (#).")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif not 1 <= port <= 65535:
        raise UnsafeURLError("The URL's port must be a number between 1 and 65535.")
    host, ip = _parse_host(parts)
    if ip is not None:
        refusal = _address_refusal(ip, allow_private=allow_private)
        if refusal is not None:
            raise UnsafeURLError(f"The URL's host is {refusal}.")
    elif not allow_private and (host == "localhost" or host.endswith(".localhost")):
        # RFC 6761: these names are loopback by definition, no need to wait for DNS.
        raise UnsafeURLError("The URL's host is not a public address.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii():
        raise UnsafeURLError("Percent-encode the non-ASCII characters of the URL's path.")
    return _Target(scheme=parts.scheme, host=host, port=port, path=path, ip=ip)


def _parse_host(parts: SplitResult) -> tuple[str, IPAddress | None]:
    host = parts.hostname
    if not host:
        raise UnsafeURLError("The URL must have a host.")
    if ":" in host:  # a bracketed IPv6 literal
        if "%" in host:
            raise UnsafeURLError("The URL's host must not name a network interface.")
        try:
            return host, ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise UnsafeURLError("The URL's host is not a valid IPv6 address.") from exc
    try:
        # The idna codec also folds full-width digits and dots, so the checks below
        # see the name DNS would.
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsafeURLError("The URL's host is not a valid host name.") from exc
    labels = ascii_host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return ascii_host, ipaddress.IPv4Address(ascii_host)
        except ValueError as exc:
            raise UnsafeURLError(
                "Write the URL's IPv4 address as four decimal numbers (like 192.0.2.1)."
            ) from exc
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeURLError("The URL's host is not a valid host name.")
    return ascii_host, None


def check_url(url: str, *, allow_http: bool, allow_private: bool = False) -> None:
    """Refuse a URL webhooks may not be registered with, raising ``UnsafeURLError``.

    https only (http with ``allow_http``), no credentials, a host, a port in
    1-65535, no fragment, at most 2,000 characters, and an IP-literal host must be
    public (``allow_private`` lifts that, never for a metadata address). Host names
    are not resolved here: ``post`` checks their addresses at send time.
    """
    _parse(url, allow_http=allow_http, allow_private=allow_private)


def system_resolver(host: str, port: int) -> list[str]:
    """The host's TCP addresses from the system resolver, both families, deduplicated."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_http: bool,
    allow_private: bool,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """POST ``body`` to ``url`` and return the answer, refusing any address inside.

    The host is resolved once (``resolver``, default the system's) and every address
    must pass the checks of the module docstring, else ``UnsafeAddressError``
    (``UnsafeURLRefused`` for a URL ``check_url`` refuses); the connection goes to
    the first checked address that accepts it. ``timeout`` bounds each connect and
    read and the whole attempt (name resolution aside: the system resolver has its
    own limits). Once the status and headers are in, a failure while reading the
    body keeps the answer with what was read: the receiver has spoken.
    ``ssl_context`` defaults to ``ssl.create_default_context()``; the certificate is
    checked against the URL's host name. Any other failure raises ``TransportError``.
    """
    reserved = _TRANSPORT_HEADERS.intersection(name.lower() for name in headers)
    if reserved:
        raise ValueError(f"post() sets these headers itself: {sorted(reserved)}")
    request_headers = {**headers, "Connection": "close"}
    started = time.monotonic()
    deadline = started + timeout
    try:
        target = _parse(url, allow_http=allow_http, allow_private=allow_private)
    except UnsafeURLError as exc:
        raise UnsafeURLRefused(str(exc)) from exc
    addresses = _checked_addresses(target, resolver or system_resolver, allow_private)
    connection: _PinnedConnection
    if target.scheme == "https":
        context = ssl_context or ssl.create_default_context()
        connection = _PinnedHTTPSConnection(target, addresses, deadline, context)
    else:
        connection = _PinnedConnection(target, addresses, deadline)
    response: http.client.HTTPResponse | None = None
    try:
        try:
            connection.connect()
            connection.request("POST", target.path, body=body, headers=request_headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(_reason(exc)) from exc
        answer_body = _read_prefix(response)
        return Answer(
            status=response.status,
            headers=Headers(response.getheaders()),
            body=answer_body,
            duration=time.monotonic() - started,
        )
    finally:
        if response is not None:
            response.close()
        connection.close()


def _checked_addresses(target: _Target, resolver: Resolver, allow_private: bool) -> list[str]:
    if target.ip is not None:
        return [str(target.ip)]  # already checked by _parse; nothing to resolve
    try:
        answers = list(resolver(target.host, target.port))
    except (OSError, UnicodeError) as exc:
        raise TransportError("could not resolve the host") from exc
    if not answers:
        raise TransportError("the host has no address")
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError as exc:
            raise UnsafeAddressError(
                "the host resolved to an invalid address", address=answer
            ) from exc
        refusal = _address_refusal(address, allow_private=allow_private)
        if refusal is not None:
            # Refused when ANY address is: which one a connection would use is not ours to pick.
            raise UnsafeAddressError(f"the host resolves to {refusal}", address=answer)
    return answers


def _reason(exc: BaseException) -> str:
    # Fixed phrases only: an exception's own text may hold addresses or headers.
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "malformed answer"
    if isinstance(exc, OSError):
        return "network error"
    return "delivery failed"


def _read_prefix(response: http.client.HTTPResponse) -> bytes:
    body = bytearray()
    try:
        while len(body) < BODY_LIMIT:
            # read1: one receive at a time, so a failure loses nothing already received.
            piece = response.read1(BODY_LIMIT - len(body))
            if not piece:
                break
            body += piece
    except http.client.IncompleteRead as exc:
        body += exc.partial[: BODY_LIMIT - len(body)]
    except (OSError, http.client.HTTPException):
        pass  # a timeout or reset mid-body: the status stands, keep what arrived
    return bytes(body)


class _DeadlineSocket:
    """The connected socket as http.client sees it: each send and read gets only the
    time left before the attempt's deadline.

    Like ``socket.makefile``, an open reader keeps the socket open after ``close()``:
    http.client closes the connection before the body of a ``Connection: close``
    answer is read.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._readers = 0
        self._closed = False

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)

    def sendall(self, data: "ReadableBuffer") -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer: "WriteableBuffer") -> int:
        self._arm()
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError("http.client reads the answer in 'rb' mode only")
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        self._close_if_unused()

    def close(self) -> None:
        self._closed = True
        self._close_if_unused()

    def _close_if_unused(self) -> None:
        if self._closed and self._readers <= 0:
            self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.reader_closed()
        super().close()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to checked addresses only; ``host`` is just the Host header."""

    def __init__(self, target: _Target, addresses: Sequence[str], deadline: float) -> None:
        super().__init__(target.host, target.port)
        self._addresses = addresses
        self._deadline = deadline

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def _connect_checked(self) -> socket.socket:
        error: OSError = TimeoutError("deadline passed")
        for address in self._addresses:
            try:
                # AI_NUMERICHOST: building the socket address must never query DNS.
                family, kind, proto, _, sockaddr = socket.getaddrinfo(
                    address, self.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
                )[0]
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                error = exc
                continue
            try:
                sock.settimeout(self._left())
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error

    def connect(self) -> None:
        self.sock = _DeadlineSocket(self._connect_checked(), self._deadline)


class _PinnedHTTPSConnection(_PinnedConnection):
    """TLS to a checked address, with SNI and certificate checked for the URL's host."""

    default_port = 443

    def __init__(
        self,
        target: _Target,
        addresses: Sequence[str],
        deadline: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(target, addresses, deadline)
        self._context = context

    def connect(self) -> None:
        sock = self._connect_checked()
        try:
            sock.settimeout(self._left())
            tls = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(tls, self._deadline)
