"""The webhook transport: no request to the inside, whatever the URL or DNS says.

Receivers are real HTTP and HTTPS servers on loopback addresses; a resolver the test
controls stands in for DNS. Every outbound `connect` of the process is recorded (and
anything off loopback blocked), so "refused" also means "no connection was tried".
"""

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhooks.transport import (
    BODY_LIMIT,
    DeliveryRefused,
    Resolver,
    TransportError,
    UnsafeAddressError,
    UnsafeURLError,
    UnsafeURLRefused,
    check_url,
    is_public_address,
    post,
)

HOST = "hooks.example.test"
TIMEOUT = 2.0


# --- outbound connections -------------------------------------------------------


@dataclass
class Outbound:
    attempts: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture(autouse=True)
def outbound(monkeypatch: pytest.MonkeyPatch) -> Outbound:
    """Records every `connect` of the process; off loopback it is refused, not made."""
    watch = Outbound()
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        watch.attempts.append((host, port))
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError("the test blocks connections off this machine")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return watch


# --- receivers -----------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: "Receiver"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # in this thread, not in the accepting one
        super().setup()

    def do_POST(self) -> None:
        self._record()

    def do_GET(self) -> None:
        self._record()

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(
            Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
        )
        self.server.respond(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def no_content(handler: Handler) -> None:
    handler.send_response(204)
    handler.end_headers()


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: str, port: int = 0) -> None:
        super().__init__((address, port), Handler)
        self.requests: list[Request] = []
        self.connections = 0
        self.server_names: list[str | None] = []
        self.respond: Callable[[Handler], None] = no_content
        self.release = threading.Event()  # ends handlers that wait
        self.finished = threading.Event()  # set when a handler returns or fails

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def use_tls(self, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.finished.set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early is what several tests do


@pytest.fixture
def serve() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(address: str = "127.0.0.1", port: int = 0) -> Receiver:
        receiver = Receiver(address, port)
        # A short poll keeps shutdown (and so each test) fast.
        threading.Thread(target=receiver.serve_forever, args=(0.01,), daemon=True).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.release.set()
        receiver.shutdown()
        receiver.server_close()


@pytest.fixture
def receiver(serve: Callable[..., Receiver]) -> Receiver:
    return serve()


@dataclass
class Dns:
    """A DNS the test writes: one answer per call, the last repeated."""

    answers: list[list[str]]
    calls: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def send(url: str, resolver: Resolver | None = None, **options: Any) -> Any:
    settings: dict[str, Any] = {"timeout": TIMEOUT, "allow_http": True, "allow_private": True}
    settings.update(options)
    return post(
        url,
        b'{"type": "ping"}',
        {"Content-Type": "application/json"},
        resolver=resolver,
        **settings,
    )


# --- certificates --------------------------------------------------------------


@dataclass
class Certificates:
    ca_pem: str
    hooks: tuple[Path, Path]  # (certificate, key) for hooks.example.test
    other: tuple[Path, Path]  # for other.example.test

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(name: str) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    return Certificates(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        hooks=leaf(HOST),
        other=leaf("other.example.test"),
    )


# --- registration: check_url -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/endpoint",
        "https://hooks.example.com:8443/a/b?token=x&y=1",
        "https://HOOKS.Example.COM/",
        "https://bücher.example/hook",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://my_service.example.com/",
    ],
)
def test_check_url_accepts_a_public_https_url(url: str) -> None:
    check_url(url, allow_http=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/", "must start with https://"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("hooks.example.com/path", "must start with https://"),
        ("https://user:secret@hooks.example.com/", "user name or password"),
        ("https://user@hooks.example.com/", "user name or password"),
        ("https://evil.example\\@hooks.example.com/", "user name or password"),
        ("https:///path", "must have a host"),
        ("https://:443/path", "must have a host"),
        ("https://hooks.example.com:0/", "between 1 and 65535"),
        ("https://hooks.example.com:65536/", "between 1 and 65535"),
        ("https://hooks.example.com:https/", "between 1 and 65535"),
        ("https://hooks.example.com/#section", "fragment"),
        ("https://hooks.example.com/#", "fragment"),
        ("https://hooks.example.com/" + "a" * 2000, "at most 2000 characters"),
        ("https://hooks.exa\nmple.com/", "control characters"),
        ("https://hooks.example.com/a b", "control characters"),
        ("https://hooks..example.com/", "not a valid host name"),
        ("https://-hooks.example.com/", "not a valid host name"),
        ("https://hooks.example.com./", "not a valid host name"),
        ("https://hooks.example.com/caf\u00e9", "Percent-encode"),
        ("https://127.0.0.1/", "not a public address"),
        ("https://10.1.2.3/", "not a public address"),
        ("https://192.168.0.10:8080/", "not a public address"),
        ("https://[::1]/", "not a public address"),
        ("https://[::ffff:127.0.0.1]/", "not a public address"),
        ("https://[fe80::1%25eth0]/", "network interface"),
        ("https://localhost/", "not a public address"),
        ("https://api.localhost/", "not a public address"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("https://168.63.129.16/", "cloud metadata address"),
        # Spellings getaddrinfo takes for 127.0.0.1.
        ("https://127.1/", "four decimal numbers"),
        ("https://2130706433/", "four decimal numbers"),
        ("https://0x7f.0.0.1/", "four decimal numbers"),
        ("https://0177.0.0.1/", "four decimal numbers"),
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "not a public address"),
    ],
)
def test_check_url_refuses_with_a_readable_message(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError, match=message) as refused:
        check_url(url, allow_http=False)
    assert "secret" not in str(refused.value)
    assert str(refused.value).endswith(".")


def test_check_url_allows_http_and_private_literals_only_when_told() -> None:
    check_url("http://hooks.example.com/", allow_http=True)
    check_url("http://127.0.0.1:8000/hook", allow_http=True, allow_private=True)
    check_url("https://localhost/", allow_http=False, allow_private=True)
    with pytest.raises(UnsafeURLError, match="must start with https:// or http://"):
        check_url("ftp://hooks.example.com/", allow_http=True)


@pytest.mark.parametrize("host", ["169.254.169.254", "[fd00:ec2::254]", "100.100.100.200"])
def test_check_url_refuses_metadata_even_when_private_is_allowed(host: str) -> None:
    with pytest.raises(UnsafeURLError, match="cloud metadata address"):
        check_url(f"https://{host}/", allow_http=True, allow_private=True)


def test_check_url_does_not_resolve_names(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("check_url looked a name up")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    check_url("https://hooks.example.com/", allow_http=False)
    assert outbound.attempts == []


# --- send time: refused addresses ------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "127.10.20.30",
    "::1",
    "0.0.0.0",  # noqa: S104 (an answer to refuse, not a bind)
    "::",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "169.254.1.1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.0.8",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    # Cloud metadata services.
    "169.254.169.254",
    "fd00:ec2::254",
    "169.254.170.2",
    "100.100.100.200",
    "168.63.129.16",
    "192.0.0.192",
    "::ffff:169.254.169.254",
]


@pytest.mark.parametrize("address", REFUSED)
def test_an_address_inside_is_refused_before_any_connection(
    address: str, receiver: Receiver, outbound: Outbound
) -> None:
    resolver = Dns([[address]])
    with pytest.raises(UnsafeAddressError) as refused:
        send(f"https://{HOST}:{receiver.port}/hook", resolver, allow_private=False)
    assert isinstance(refused.value, DeliveryRefused)
    assert isinstance(refused.value, TransportError)
    assert refused.value.address == address
    assert address not in str(refused.value)  # the owner must not read our DNS
    assert resolver.calls == [(HOST, receiver.port)]
    assert outbound.attempts == []
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "answer",
    [
        ["8.8.8.8", "127.0.0.1"],
        ["8.8.8.8", "1.1.1.1", "10.0.0.7"],
        ["2606:4700:4700::1111", "::1"],
        ["192.168.0.1", "8.8.8.8"],
    ],
)
def test_one_private_address_among_public_ones_refuses_the_host(
    answer: list[str], receiver: Receiver, outbound: Outbound
) -> None:
    with pytest.raises(UnsafeAddressError):
        send(f"https://{HOST}:{receiver.port}/hook", Dns([answer]), allow_private=False)
    assert outbound.attempts == []
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass_the_check(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_allow_private_lets_a_loopback_receiver_through(receiver: Receiver) -> None:
    resolver = Dns([["127.0.0.1"]])
    answer = send(f"http://{HOST}:{receiver.port}/hook", resolver, allow_private=True)
    assert answer.status == 204
    assert [(r.method, r.path, r.body) for r in receiver.requests] == [
        ("POST", "/hook", b'{"type": "ping"}')
    ]
    assert receiver.requests[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_allow_private_still_refuses_metadata(address: str, outbound: Outbound) -> None:
    with pytest.raises(UnsafeAddressError, match="metadata"):
        send(f"http://{HOST}/", Dns([[address]]), allow_private=True)
    assert outbound.attempts == []


def test_an_ip_literal_is_not_resolved(receiver: Receiver) -> None:
    resolver = Dns([["10.9.9.9"]])
    answer = send(f"http://127.0.0.1:{receiver.port}/hook", resolver)
    assert answer.status == 204
    assert resolver.calls == []
    with pytest.raises(UnsafeURLRefused, match="not a public address"):
        send(f"http://127.0.0.1:{receiver.port}/hook", resolver, allow_private=False)


def test_the_system_resolver_is_the_default(receiver: Receiver) -> None:
    answer = send(f"http://localhost:{receiver.port}/hook")
    assert answer.status == 204
    assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"


# --- DNS rebinding -----------------------------------------------------------------


def test_the_connection_goes_to_the_checked_address_not_a_new_answer(
    serve: Callable[..., Receiver], outbound: Outbound
) -> None:
    checked = serve("127.0.0.1")
    rebound = serve("127.0.0.2", checked.port)
    resolver = Dns([["127.0.0.1"], ["127.0.0.2"]])

    answer = send(f"http://{HOST}:{checked.port}/hook", resolver)

    assert answer.status == 204
    assert resolver.calls == [(HOST, checked.port)]
    assert outbound.attempts == [("127.0.0.1", checked.port)]
    assert checked.requests[0].headers["Host"] == f"{HOST}:{checked.port}"
    assert rebound.connections == 0


def test_a_rebinding_to_loopback_after_a_public_answer_is_never_reached(
    receiver: Receiver, outbound: Outbound
) -> None:
    resolver = Dns([["8.8.8.8"], ["127.0.0.1"]])
    with pytest.raises(TransportError):  # the test blocks 8.8.8.8: it stays on this machine
        send(f"http://{HOST}:{receiver.port}/hook", resolver, allow_private=False)
    assert resolver.calls == [(HOST, receiver.port)]
    assert outbound.attempts == [("8.8.8.8", receiver.port)]
    assert receiver.connections == 0


def test_the_next_checked_address_is_tried_when_one_refuses(
    receiver: Receiver, outbound: Outbound
) -> None:
    # Nothing listens on 127.0.0.3: the receiver is bound to 127.0.0.1 only.
    resolver = Dns([["127.0.0.3", "127.0.0.1"]])
    answer = send(f"http://{HOST}:{receiver.port}/hook", resolver)
    assert answer.status == 204
    assert outbound.attempts == [("127.0.0.3", receiver.port), ("127.0.0.1", receiver.port)]


# --- HTTPS -----------------------------------------------------------------------


def test_https_verifies_the_original_host_name_on_the_checked_address(
    receiver: Receiver, certificates: Certificates, outbound: Outbound
) -> None:
    receiver.use_tls(*certificates.hooks)
    resolver = Dns([["127.0.0.1"], ["127.0.0.2"]])

    answer = send(
        f"https://{HOST}:{receiver.port}/hook",
        resolver,
        allow_http=False,
        ssl_context=certificates.client_context(),
    )

    assert answer.status == 204
    assert receiver.server_names == [HOST]
    assert receiver.requests[0].headers["Host"] == f"{HOST}:{receiver.port}"
    assert outbound.attempts == [("127.0.0.1", receiver.port)]


def test_https_refuses_a_certificate_for_another_name(
    receiver: Receiver, certificates: Certificates
) -> None:
    receiver.use_tls(*certificates.other)
    with pytest.raises(TransportError, match="TLS certificate verification failed"):
        send(
            f"https://{HOST}:{receiver.port}/hook",
            Dns([["127.0.0.1"]]),
            ssl_context=certificates.client_context(),
        )
    assert receiver.requests == []


def test_https_verifies_against_the_system_trust_store_by_default(
    receiver: Receiver, certificates: Certificates
) -> None:
    receiver.use_tls(*certificates.hooks)
    with pytest.raises(TransportError, match="TLS certificate verification failed"):
        send(f"https://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]))
    assert receiver.requests == []


# --- URL rules at send time ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options"),
    [
        (f"http://{HOST}/hook", {"allow_http": False}),
        (f"https://user:secret@{HOST}/hook", {}),
        (f"https://{HOST}/hook#x", {}),
        ("https://10.0.0.1/hook", {"allow_private": False}),
    ],
)
def test_post_refuses_a_url_check_url_refuses(
    url: str, options: dict[str, bool], outbound: Outbound
) -> None:
    resolver = Dns([["127.0.0.1"]])
    with pytest.raises(UnsafeURLRefused) as refused:
        send(url, resolver, **options)
    assert isinstance(refused.value, UnsafeURLError)
    assert isinstance(refused.value, DeliveryRefused)
    assert "secret" not in str(refused.value)
    assert resolver.calls == []
    assert outbound.attempts == []


def test_a_caller_cannot_set_the_host_header(outbound: Outbound) -> None:
    with pytest.raises(ValueError, match="host"):
        post(
            f"https://{HOST}/",
            b"",
            {"Host": "internal.example"},
            timeout=TIMEOUT,
            allow_http=False,
            allow_private=False,
            resolver=Dns([["8.8.8.8"]]),
        )
    assert outbound.attempts == []


# --- answers -----------------------------------------------------------------------


def test_a_redirect_is_an_answer_not_followed(receiver: Receiver) -> None:
    def redirect(handler: Handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"http://127.0.0.1:{receiver.port}/target")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    receiver.respond = redirect
    answer = send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]))
    assert answer.status == 302
    assert answer.headers["location"].endswith("/target")
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_retry_after_is_readable_in_any_case(receiver: Receiver) -> None:
    def busy(handler: Handler) -> None:
        handler.send_response(503)
        handler.send_header("Retry-After", "120")
        handler.send_header("Content-Length", "4")
        handler.end_headers()
        handler.wfile.write(b"busy")

    receiver.respond = busy
    answer = send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]))
    assert answer.status == 503
    assert answer.headers["Retry-After"] == answer.headers["retry-after"] == "120"
    assert answer.body == b"busy"
    assert 0 < answer.duration < TIMEOUT


@pytest.mark.parametrize("chunked", [False, True])
def test_only_the_first_kilobyte_of_a_huge_answer_is_read(
    receiver: Receiver, chunked: bool
) -> None:
    piece = bytes(range(256)) * 256  # 64 KiB
    pieces = 1024  # 64 MiB, far more than socket buffers hold
    sent_all = threading.Event()

    def huge(handler: Handler) -> None:
        handler.send_response(200)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(piece) * pieces))
        handler.end_headers()
        for _ in range(pieces):
            if chunked:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                handler.wfile.write(piece)
        sent_all.set()

    receiver.respond = huge
    answer = send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]))
    assert answer.status == 200
    assert answer.body == piece[:BODY_LIMIT]
    assert receiver.finished.wait(5)
    assert not sent_all.is_set()  # the transport hung up instead of reading it all


def test_a_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    def silent(handler: Handler) -> None:
        receiver.release.wait(10)

    receiver.respond = silent
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"^timed out$"):
        send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]), timeout=0.3)
    assert time.monotonic() - started < 1.5


def test_a_receiver_trickling_headers_cannot_outlast_the_deadline(receiver: Receiver) -> None:
    def trickle(handler: Handler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not receiver.release.wait(0.05):  # each byte well within the read timeout
            handler.wfile.write(b"a")
            handler.wfile.flush()

    receiver.respond = trickle
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"^timed out$"):
        send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]), timeout=0.4)
    assert time.monotonic() - started < 1.5


def test_a_body_trickling_past_the_deadline_keeps_the_status(receiver: Receiver) -> None:
    def trickle(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"ok")
        while not receiver.release.wait(0.05):
            handler.wfile.write(b".")
            handler.wfile.flush()

    receiver.respond = trickle
    started = time.monotonic()
    answer = send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]), timeout=0.4)
    assert answer.status == 200
    assert answer.body.startswith(b"ok.")
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (lambda handler: handler.wfile.write(b"garbage\r\n\r\n"), "malformed answer"),
        (lambda handler: None, "connection closed without an answer"),
    ],
)
def test_a_broken_answer_is_a_transport_error(
    receiver: Receiver, behaviour: Callable[[Handler], None], reason: str
) -> None:
    receiver.respond = behaviour
    with pytest.raises(TransportError, match=rf"^{reason}$"):
        send(f"http://{HOST}:{receiver.port}/hook", Dns([["127.0.0.1"]]))


def test_a_closed_port_is_a_transport_error() -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with pytest.raises(TransportError, match=r"^connection refused$"):
            send(f"http://{HOST}:{port}/hook", Dns([["127.0.0.1"]]))


def test_a_name_that_does_not_resolve_is_a_transport_error(outbound: Outbound) -> None:
    def failing(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(TransportError, match=r"^could not resolve the host$"):
        send(f"https://{HOST}/hook", failing)
    with pytest.raises(TransportError, match=r"^the host has no address$"):
        send(f"https://{HOST}/hook", Dns([[]]))
    assert outbound.attempts == []
