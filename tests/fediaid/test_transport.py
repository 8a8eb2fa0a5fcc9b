"""The delivery transport (``HttpxTransport``: httpx over aiohttp through
``activitypub.net.make_client``) and the delivery worker's redirects, against real sockets on
127.0.0.1.

Each test starts small asyncio servers that speak raw HTTP/1.1 bytes (so they can also
misbehave). ``test_on_uvloop`` runs the scenarios again on uvloop, the loop the server runs.
Nothing leaves 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import ipaddress
import os
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fediaid.config import load_settings, write_config
from fediaid.federation.transport import (
    DeliveryTransport,
    HttpxTransport,
    PostResult,
    redirect_target,
)
from fediaid.services.runtime import Runtime
from fediaid.storage.engine import Database

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
WAIT = 3.0  # seconds: the bound on any wait for something that should happen at once


# -- servers ------------------------------------------------------------------------------


@dataclass
class RawRequest:
    head: bytes  # request line and header lines, without the blank line
    body: bytes
    peer: int  # number of the connection it came on (1 = first accepted)

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def values(self, name: str) -> list[bytes]:
        out = []
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                out.append(value.strip())
        return out


class Peer:
    """The server's side of one accepted connection."""

    def __init__(self, server: RawServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, number: int) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.number = number
        self.eof = asyncio.Event()  # the client closed its side

    async def read_request(self) -> RawRequest | None:
        """The next request, or None when the client closed the connection between requests
        (bytes left over from a request would fail the test)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.eof.set()
            if exc.partial:
                raise AssertionError(f"stray bytes before close: {exc.partial[:80]!r}") from None
            return None
        lengths = [int(v) for v in RawRequest(head, b"", 0).values("content-length")]
        assert len(lengths) == 1, f"want one Content-Length: {head!r}"
        body = await self.reader.readexactly(lengths[0])
        request = RawRequest(head[:-4], body, self.number)
        self.server.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_for_eof(self) -> None:
        while await self.reader.read(65536):
            pass
        self.eof.set()


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """An asyncio TCP (or TLS) server on 127.0.0.1 that hands each connection to ``handler``
    and counts connections and requests."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None,
                 bind: str = "127.0.0.1") -> None:
        self.handler = handler
        self.tls = tls
        self.bind = bind
        self.peers: list[Peer] = []
        self.requests: list[RawRequest] = []
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def connections(self) -> int:
        return len(self.peers)

    def url(self, path: str = "/inbox", *, host: str | None = None) -> str:
        return f"{'https' if self.tls else 'http'}://{host or self.bind}:{self.port}{path}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, self.bind, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self, reader, writer, len(self.peers) + 1)
        self.peers.append(peer)
        try:
            await self.handler(peer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away: what some tests are about
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for peer in self.peers:
            peer.writer.close()  # the handlers' reads end, their writes fail: they return
        if self._tasks:
            # (Not cancelled: Python 3.11's start_server logs a cancelled handler as an error.)
            await asyncio.wait(self._tasks, timeout=WAIT)
        assert not self._tasks, "a server handler did not finish"
        await self._server.wait_closed()
        if self.errors:
            raise self.errors[0]


def answering(*responses: bytes) -> Handler:
    """Answer the n-th request the server receives with ``responses[n]`` (the last repeats),
    keeping connections alive until the client closes them."""

    async def handler(peer: Peer) -> None:
        while await peer.read_request() is not None:
            n = len(peer.server.requests) - 1
            await peer.send(responses[min(n, len(responses) - 1)])

    return handler


@contextmanager
def listener() -> Iterator[socket.socket]:
    """A bare listening socket nobody accepts on: a client that connected shows up as a
    pending connection (the kernel completes the handshake without us)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


# -- clients ------------------------------------------------------------------------------


def make(*, allow_private: bool = True, timeout: float = WAIT) -> HttpxTransport:
    return HttpxTransport(allow_private=allow_private, timeout=timeout, concurrency=50,
                          user_agent="fediaid-test/1.0")


@asynccontextmanager
async def client(**kwargs: Any) -> AsyncIterator[HttpxTransport]:
    """A transport, closed afterwards; the test fails if anything reached the event loop's
    exception handler meanwhile (e.g. an exception escaping a protocol callback)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    transport = make(**kwargs)
    try:
        yield transport
    finally:
        await transport.aclose()
        await asyncio.sleep(0)  # let closing connections run their callbacks
        loop.set_exception_handler(previous)
    assert not errors, f"event loop errors: {errors}"


async def post(transport: DeliveryTransport, url: str, body: bytes = b"{}",
               headers: dict[str, str] | None = None) -> PostResult:
    """``transport.post`` with a bound on its duration (a hang fails the test)."""
    return await asyncio.wait_for(transport.post(url, body, headers or {}), WAIT * 2)


async def settle() -> None:
    """Let the client's event loop see what the server just did (a close, stray bytes)."""
    await asyncio.sleep(0.05)


def failed(result: PostResult) -> bool:
    return result.status is None and bool(result.error)


# -- TLS material -------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path  # a CA certificate (PEM), for SSL_CERT_FILE
    self_signed: Path  # key + self-signed certificate for 127.0.0.1 and localhost
    signed: Path  # key + certificate from ``ca`` for 127.0.0.1 and localhost
    other_name: Path  # key + certificate from ``ca`` for other.example only

    @staticmethod
    def server(chain: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain)
        return ctx


@functools.cache
def certs() -> Certs:
    directory = Path(tempfile.mkdtemp(prefix="fediaid-test-tls-"))
    atexit.register(shutil.rmtree, directory, True)
    now = datetime.now(UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
              issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
              names: list[x509.GeneralName]) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            # Python 3.13 verifies with VERIFY_X509_STRICT, which wants an Authority Key
            # Identifier on every certificate a CA issued (and on the CA's own).
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(name: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> Path:
        path = directory / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return path

    local = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fediaid test CA")])
    ca_cert = issue("fediaid test CA", ca_key, ca_name, ca_key, ca=True, names=[])
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    self_key = ec.generate_private_key(ec.SECP256R1())
    self_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    return Certs(
        ca=directory / "ca.pem",
        self_signed=write("self.pem", self_key, issue(
            "127.0.0.1", self_key, self_name, self_key, ca=False, names=local)),
        signed=write("signed.pem", leaf_key, issue(
            "127.0.0.1", leaf_key, ca_name, ca_key, ca=False, names=local)),
        other_name=write("other.pem", leaf_key, issue(
            "other.example", leaf_key, ca_name, ca_key, ca=False,
            names=[x509.DNSName("other.example")])),
    )


@contextmanager
def trusting(ca: Path) -> Iterator[None]:
    """Make the client's TLS context (built on first use; ``activitypub.net`` honours
    SSL_CERT_FILE as httpx does) trust ``ca`` instead of certifi's roots."""
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca)
    try:
        yield
    finally:
        if old is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = old


# -- what a delivery sends and what it reads ------------------------------------------------


async def test_post_sends_exactly_the_given_request() -> None:
    body = '{"type":"Create","content":"Suppe für alle ✓"}'.encode()
    async with RawServer(answering(ACCEPTED)) as server, client() as t:
        headers = {
            "Host": f"127.0.0.1:{server.port}",
            "Date": "Sun, 07 Jun 2026 10:00:00 GMT",
            "Digest": "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "Content-Type": "application/activity+json",
            "Signature": 'keyId="https://a.test/groups/elm#main-key",algorithm="rsa-sha256",'
                         'headers="(request-target) host date digest content-type",'
                         'signature="c2lnbmF0dXJl+/=="',
        }
        result = await post(t, server.url("/users/elm/inbox?page=1"), body, headers)
    assert result == PostResult(202)
    (request,) = server.requests
    assert request.request_line == b"POST /users/elm/inbox?page=1 HTTP/1.1"
    assert request.values("host") == [f"127.0.0.1:{server.port}".encode()]
    assert request.values("content-length") == [str(len(body)).encode()]
    assert request.values("transfer-encoding") == []
    assert request.values("user-agent") == [b"fediaid-test/1.0"]
    assert request.body == body
    lower_head = request.head.lower()
    for name, value in headers.items():
        assert f"\r\n{name}: {value}".lower().encode() in lower_head, name
        assert len(request.values(name)) == 1, name


async def test_sequential_posts_reuse_one_connection() -> None:
    async with RawServer(answering(ACCEPTED)) as server, client() as t:
        results = [await post(t, server.url(f"/inbox/{i}")) for i in range(5)]
    assert [r.status for r in results] == [202] * 5
    assert server.connections == 1
    assert [r.peer for r in server.requests] == [1] * 5


async def test_concurrent_posts_to_one_server_use_at_most_8_connections() -> None:
    async def slow(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await asyncio.sleep(0.03)
            await peer.send(ACCEPTED)

    async with RawServer(slow) as server, client() as t:
        results = await asyncio.gather(*(post(t, server.url()) for _ in range(12)))
    assert [r.status for r in results] == [202] * 12
    assert 2 <= server.connections <= 8


async def test_chunked_response_body() -> None:
    async def chunked(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            b"Content-Type: text/plain\r\n\r\n5\r\nhello\r\n")
            await asyncio.sleep(0.01)  # the rest in a later segment
            await peer.send(b"6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")

    async with RawServer(chunked) as server, client() as t:
        results = [await post(t, server.url()) for _ in range(2)]
    assert results == [PostResult(200)] * 2
    assert [r.body for r in results] == [b"hello world"] * 2  # kept (an SMS gateway's error)
    assert server.connections == 1  # the whole chunked body was consumed: reusable


async def test_response_without_length_ends_on_close() -> None:
    async def close_delimited(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome text")
            await peer.send(b" and more of it")
        # returning closes the connection: the end of the body

    async with RawServer(close_delimited) as server, client() as t:
        results = [await post(t, server.url()) for _ in range(2)]
    assert results == [PostResult(200)] * 2
    assert server.connections == 2  # such a connection cannot be reused


async def test_503_with_retry_after() -> None:
    answer = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 4\r\n\r\nbusy")
    async with RawServer(answering(answer)) as server, client() as t:
        result = await post(t, server.url())
    assert result == PostResult(503, "120")


async def test_large_response_body_still_gives_the_status() -> None:
    size = 4 * 1024 * 1024
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    async with RawServer(answering(answer)) as server, client() as t:
        result = await post(t, server.url())
        again = await post(t, server.url())
    assert result == again == PostResult(200)


async def test_informational_responses_before_the_final_one() -> None:
    async def interim(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
                            b"Retry-After: 5\r\n\r\n")
            await asyncio.sleep(0.01)
            await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n" + ACCEPTED)

    async with RawServer(interim) as server, client() as t:
        results = [await post(t, server.url()) for _ in range(2)]
    assert results == [PostResult(202)] * 2  # the 1xx's Retry-After is not the answer's
    assert server.connections == 1


async def test_server_closes_an_idle_connection() -> None:
    async def one_per_connection(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(ACCEPTED)  # keep-alive by default, and yet closed at once

    async with RawServer(one_per_connection) as server, client() as t:
        results = []
        for _ in range(3):
            results.append(await post(t, server.url()))
            await settle()  # the client has seen the close before the next POST
    assert results == [PostResult(202)] * 3
    assert server.connections == 3


async def test_server_drops_a_reused_connection_without_answering() -> None:
    """The race of an idle timeout: the server closes the kept-alive connection as our next
    request arrives. aiohttp sends a POST again only when it is idempotent, so it fails
    cleanly and the delivery is retried later; the next one gets a new connection."""

    async def drop_second(peer: Peer) -> None:
        while await peer.read_request() is not None:
            if peer.number == 1 and len(peer.server.requests) == 2:
                return  # read it, then close without a byte of answer
            await peer.send(ACCEPTED)

    async with RawServer(drop_second) as server, client() as t:
        first = await post(t, server.url())
        second = await post(t, server.url())
        third = await post(t, server.url())
    assert first == third == PostResult(202)
    assert failed(second) and "Disconnected" in (second.error or ""), second
    assert [r.peer for r in server.requests] == [1, 1, 2]


async def test_stray_bytes_on_an_idle_connection() -> None:
    """Junk that arrives on a kept-alive connection between requests: the connection must
    not be used again (its parser state is unknown), the next POST still gets through."""

    async def junk_after_answer(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await peer.send(ACCEPTED)
            if len(peer.server.requests) == 1:
                await asyncio.sleep(0.01)
                await peer.send(b"JUNK\r\n\r\n")

    async with RawServer(junk_after_answer) as server, client() as t:
        first = await post(t, server.url())
        await settle()
        second = await post(t, server.url())
    assert first == second == PostResult(202)
    assert server.connections == 2


async def test_timeout_when_the_server_never_answers() -> None:
    async def silent(peer: Peer) -> None:
        await peer.read_request()
        await peer.wait_for_eof()

    async with RawServer(silent) as server, client(timeout=0.3) as t:
        started = time.monotonic()
        result = await post(t, server.url())
        elapsed = time.monotonic() - started
        assert failed(result) and "Timeout" in (result.error or ""), result
        assert 0.25 <= elapsed < 1.0
        # The connection is dropped, not pooled: a late answer cannot pass for the next one.
        await asyncio.wait_for(server.peers[0].eof.wait(), WAIT)


async def test_a_trickling_server_cannot_hold_a_delivery_past_its_deadline() -> None:
    """One byte a second, of the status line and headers: the deadline is for the whole
    POST, not for each read (a per-read timeout would wait for ever)."""

    async def trickle(peer: Peer) -> None:
        if await peer.read_request() is not None:
            for byte in b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n":
                await peer.send(bytes([byte]))
                await asyncio.sleep(1.0)

    async with RawServer(trickle) as server, client(timeout=1.5) as t:
        started = time.monotonic()
        result = await post(t, server.url())
        assert time.monotonic() - started < 2.5
    assert failed(result) and "Timeout" in (result.error or ""), result


GARBAGE = {
    "binary": b"\x00\xff\xfe\x01 not http at all\r\n\r\n",
    "text": b"garbage\r\n\r\n",
    "bad status": b"HTTP/1.1 2x2 Accepted\r\nContent-Length: 0\r\n\r\n",
    "bad length": b"HTTP/1.1 202 Accepted\r\nContent-Length: lots\r\n\r\n",
    "bad chunk": b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "bad header": b"HTTP/1.1 202 Accepted\r\nNo colon here\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
async def test_garbage_answer_is_an_error_not_an_exception(garbage: bytes) -> None:
    async def garbled(peer: Peer) -> None:
        if await peer.read_request() is not None:
            if len(peer.server.requests) == 1:
                await peer.send(garbage)
                await peer.wait_for_eof()  # no close from us: the client must give up itself
            else:
                await peer.send(ACCEPTED)
                await peer.wait_for_eof()

    async with RawServer(garbled) as server, client() as t:
        started = time.monotonic()
        result = await post(t, server.url())
        assert failed(result), result
        assert time.monotonic() - started < 1.0  # not a timeout
        assert await post(t, server.url()) == PostResult(202)  # not on the broken connection
    assert server.connections == 2


async def test_switching_protocols_is_only_a_status() -> None:
    """101 to a POST that asked for no upgrade is reported as the status (the worker retries
    it like any unexpected status); nothing raises or reaches the event loop."""

    async def upgrade(peer: Peer) -> None:
        if await peer.read_request() is not None:
            await peer.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                            b"Upgrade: websocket\r\n\r\n")
            await peer.wait_for_eof()

    async with RawServer(upgrade) as server, client() as t:
        result = await post(t, server.url())
    assert result == PostResult(101)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]",
                                  "0.0.0.0", "127.1"])
async def test_private_addresses_are_refused_without_connecting(host: str) -> None:
    with listener() as sock:
        port = sock.getsockname()[1]
        async with client(allow_private=False) as t:
            result = await post(t, f"http://{host}:{port}/inbox")
        await settle()
        assert not connected(sock)
    assert failed(result)
    assert any(word in (result.error or "") for word in ("private", "public", "canonical")), \
        result


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_addresses_are_allowed_when_configured(host: str) -> None:
    async with RawServer(answering(ACCEPTED)) as server, client() as t:
        assert await post(t, server.url(host=host)) == PostResult(202)


INJECTIONS = {
    "crlf in value": {"X-Note": "a\r\nX-Injected: 1"},
    "lf in value": {"X-Note": "a\nX-Injected: 1"},
    "cr in value": {"X-Note": "a\rX-Injected: 1"},
    "crlf in name": {"X-Note\r\nX-Injected": "1"},
    "crlf in host": {"Host": "a.test\r\nX-Injected: 1"},
}


@pytest.mark.parametrize("headers", INJECTIONS.values(), ids=INJECTIONS.keys())
async def test_header_injection_is_refused(headers: dict[str, str]) -> None:
    async with RawServer(answering(ACCEPTED)) as server, client() as t:
        result = await post(t, server.url(), b"{}", headers)
        assert failed(result) and "line break" in (result.error or ""), result
        await settle()
        assert server.requests == []  # nothing was sent
        assert server.connections == 0  # refused before connecting
        assert await post(t, server.url()) == PostResult(202)  # and the client still works


async def test_framing_headers_are_the_clients() -> None:
    """A caller's Content-Length, Transfer-Encoding or Connection cannot contradict the body
    actually sent (request smuggling); User-Agent and Host are filled in when missing."""
    headers = {"Content-Length": "999", "Transfer-Encoding": "chunked", "Connection": "close"}
    async with RawServer(answering(ACCEPTED)) as server, client() as t:
        assert await post(t, server.url("/a b/ü"), b"abc", headers) == PostResult(202)
        assert await post(t, server.url()) == PostResult(202)
    request = server.requests[0]
    assert request.request_line == b"POST /a%20b/%C3%BC HTTP/1.1"
    assert request.values("content-length") == [b"3"]
    assert request.values("transfer-encoding") == []
    assert request.values("host") == [f"127.0.0.1:{server.port}".encode()]
    assert request.values("user-agent") == [b"fediaid-test/1.0"]
    assert request.body == b"abc"
    assert server.connections == 1  # "Connection: close" was not ours to send


async def test_tls_self_signed_certificate_is_refused() -> None:
    tls = Certs.server(certs().self_signed)
    async with RawServer(answering(ACCEPTED), tls=tls) as server, client() as t:
        result = await post(t, server.url())
    assert failed(result) and "CERTIFICATE_VERIFY_FAILED" in (result.error or ""), result
    assert server.requests == []


async def test_aclose_closes_idle_connections() -> None:
    async with RawServer(answering(ACCEPTED)) as server:
        async with client() as t:
            assert await post(t, server.url()) == PostResult(202)
        await asyncio.wait_for(server.peers[0].eof.wait(), WAIT)


async def test_tls_with_a_trusted_certificate_keeps_the_connection() -> None:
    with trusting(certs().ca):
        tls = Certs.server(certs().signed)
        async with RawServer(answering(ACCEPTED), tls=tls) as server, client() as t:
            results = [await post(t, server.url(host=h)) for h in ("127.0.0.1", "localhost")]
            results.append(await post(t, server.url()))
    assert results == [PostResult(202)] * 3
    assert server.connections == 2  # one per origin (host name), reused


async def test_tls_host_name_is_verified() -> None:
    with trusting(certs().ca):
        tls = Certs.server(certs().other_name)  # a valid chain, for another name
        async with RawServer(answering(ACCEPTED), tls=tls) as server, client() as t:
            result = await post(t, server.url())
    assert failed(result) and "CERTIFICATE_VERIFY_FAILED" in (result.error or ""), result
    assert "match" in (result.error or "")  # "IP address mismatch"
    assert server.requests == []


@pytest.mark.parametrize("framing", ["content-length", "chunked", "none"])
async def test_endless_body_is_not_read(framing: str) -> None:
    """The status is answered once it is known and at most 64 KiB of a body is read: a
    server streaming without end neither holds the delivery nor fills memory."""
    head = {"content-length": b"Content-Length: 1000000000\r\n",
            "chunked": b"Transfer-Encoding: chunked\r\n", "none": b""}[framing]
    piece = b"x" * 16384
    if framing == "chunked":
        piece = b"4000\r\n" + piece + b"\r\n"
    sent = 0
    stopped = asyncio.Event()

    async def endless(peer: Peer) -> None:
        nonlocal sent
        try:
            if await peer.read_request() is not None:
                await peer.send(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n")
                for _ in range(64 * 1024):  # bounded (1 GiB); the client gives up long before
                    await peer.send(piece)
                    sent += len(piece)
        finally:
            stopped.set()

    async with RawServer(endless) as server, client(timeout=5.0) as t:
        started = time.monotonic()
        result = await post(t, server.url())
        assert time.monotonic() - started < 1.0
        assert result == PostResult(200)
        # The connection is dropped: the server's writes fail soon.
        await asyncio.wait_for(stopped.wait(), WAIT)
    assert sent < 32 * 1024 * 1024  # what socket buffers took, of 1 GiB


async def test_idle_connections_expire() -> None:
    async with RawServer(answering(ACCEPTED)) as server:
        t = HttpxTransport(allow_private=True, timeout=WAIT, concurrency=5,
                           user_agent="fediaid-test/1.0", keepalive=0.1)
        try:
            assert await post(t, server.url()) == PostResult(202)
            await asyncio.wait_for(server.peers[0].eof.wait(), WAIT)
            assert await post(t, server.url()) == PostResult(202)
        finally:
            await t.aclose()
    assert server.connections == 2


async def test_environment_proxy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured: the request goes to the proxy, in absolute form, and the
    policy is still checked on the target (here allowed: a development instance)."""
    async with RawServer(answering(ACCEPTED)) as proxy, RawServer(answering(ACCEPTED)) as target:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with client() as t:
            assert await post(t, target.url("/x/inbox")) == PostResult(202)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with client() as t:
            assert await post(t, target.url("/direct")) == PostResult(202)
    (through,) = proxy.requests
    assert through.request_line == f"POST {target.url('/x/inbox')} HTTP/1.1".encode()
    assert [r.request_line for r in target.requests] == [b"POST /direct HTTP/1.1"]


async def test_through_a_proxy_private_targets_are_still_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with RawServer(answering(ACCEPTED)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with client(allow_private=False) as t:
            for url in ("http://127.0.0.1:9/inbox", "https://localhost:9/inbox"):
                result = await post(t, url)
                assert failed(result) and "UnsafeAddress" in (result.error or ""), result
    assert proxy.requests == []


# -- redirects (followed by the delivery worker, signed again) ------------------------------


@pytest.mark.parametrize(("url", "status", "location", "target"), [
    ("https://a.test/inbox", 308, "/new-inbox", "https://a.test/new-inbox"),
    ("https://a.test/inbox", 307, "https://A.test:8443/x", "https://A.test:8443/x"),
    ("http://a.test/inbox", 308, "https://a.test/inbox", "https://a.test/inbox"),
    ("https://a.test/inbox", 308, "http://a.test/inbox", None),  # no downgrade
    ("https://a.test/inbox", 308, "https://b.test/inbox", None),  # another server
    ("https://a.test/inbox", 301, "/new-inbox", None),  # would become a GET
    ("https://a.test/inbox", 302, "/new-inbox", None),
    ("https://a.test/inbox", 303, "/new-inbox", None),
    ("https://a.test/inbox", 308, None, None),
    ("https://a.test/inbox", 308, "ftp://a.test/x", None),
])
def test_which_redirects_a_delivery_follows(url: str, status: int, location: str | None,
                                            target: str | None) -> None:
    assert redirect_target(url, PostResult(status, location=location)) == target


async def test_a_post_answers_its_redirect_not_followed() -> None:
    answer = b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answering(answer)) as server, client() as t:
        result = await post(t, server.url())
    assert result == PostResult(308, location="/elsewhere")
    assert len(server.requests) == 1


# -- on uvloop ----------------------------------------------------------------------------

ON_UVLOOP = [
    test_post_sends_exactly_the_given_request,
    test_sequential_posts_reuse_one_connection,
    test_concurrent_posts_to_one_server_use_at_most_8_connections,
    test_chunked_response_body,
    test_response_without_length_ends_on_close,
    test_503_with_retry_after,
    test_large_response_body_still_gives_the_status,
    test_informational_responses_before_the_final_one,
    test_server_closes_an_idle_connection,
    test_server_drops_a_reused_connection_without_answering,
    test_stray_bytes_on_an_idle_connection,
    test_timeout_when_the_server_never_answers,
    test_tls_self_signed_certificate_is_refused,
    test_tls_with_a_trusted_certificate_keeps_the_connection,
    test_tls_host_name_is_verified,
    test_aclose_closes_idle_connections,
]


@pytest.mark.parametrize("scenario", ON_UVLOOP, ids=lambda f: f.__name__.removeprefix("test_"))
def test_on_uvloop(scenario: Callable[[], Awaitable[None]]) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())  # type: ignore[arg-type]


# -- configuration ------------------------------------------------------------------------


def instance(tmp_path: Path, delivery: str = "") -> Path:
    path = write_config(tmp_path, domain="a.test", group="elm", name="Elm St", dev=True)
    if delivery:
        path.write_text(path.read_text(encoding="utf-8") + delivery + "\n", encoding="utf-8")
    return tmp_path


async def runtime_transport(tmp_path: Path, env: dict[str, str]) -> DeliveryTransport:
    settings = load_settings(tmp_path, env=env)
    rt = Runtime(settings, Database(settings.database_url))
    try:
        return rt.transport()
    finally:
        await rt.close()


async def test_runtime_builds_the_transport_from_the_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = instance(tmp_path)
    env = {"FEDIAID_DELIVERY_TIMEOUT_SECONDS": "7.5", "FEDIAID_DELIVERY_CONCURRENCY": "12"}
    assert isinstance(await runtime_transport(data, env), HttpxTransport)
    built: list[dict[str, object]] = []

    def build(**kwargs: object) -> DeliveryTransport:
        built.append(kwargs)
        return make()

    monkeypatch.setattr("fediaid.federation.transport.HttpxTransport", build)
    await runtime_transport(data, env)
    (kwargs,) = built
    assert kwargs["timeout"] == 7.5 and kwargs["concurrency"] == 12
    assert kwargs["allow_private"] is True  # a dev instance
    assert "a.test" in str(kwargs["user_agent"])


def test_an_older_config_choosing_a_transport_still_loads(tmp_path: Path) -> None:
    data = instance(tmp_path, 'transport = "aiohttp"')
    assert load_settings(data, env={}).delivery.timeout_seconds == 15.0
