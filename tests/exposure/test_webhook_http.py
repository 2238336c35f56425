"""The webhook POST client against real sockets: what a receiver sees, keep-alive, the ways a response can
end, and the failures a delivery worker must tell apart."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from gridcell.app import create_app
from gridcell.config import Settings
from gridcell.core.webhook_http import WebhookClient, WebhookHTTPError, parse_target, tls_context

Reply = Callable[[int, bytes], list[bytes]]  # (request number, raw request) -> chunks to write


class _Receiver(asyncio.Protocol):
    """Answers each complete request (Content-Length bodies only) with what `reply` returns."""

    def __init__(self, server: Receiver) -> None:
        self.server = server
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(rest) < length:
                return
            request, self.buf = head + b"\r\n\r\n" + rest[:length], rest[length:]
            self.server.requests.append(request)
            for chunk in self.server.reply(len(self.server.requests), request):
                if chunk == b"<close>":
                    self.transport.close()
                    return
                self.transport.write(chunk)


class Receiver:
    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.get_running_loop().create_server(lambda: _Receiver(self), "127.0.0.1", 0,
                                                                     ssl=self.tls)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook/1?x=2"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


NO_CONTENT = [b"HTTP/1.1 204 No Content\r\n\r\n"]
HEADERS = (("Content-Type", "application/json"), ("X-Gridcell-Sequence", "7"))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_request_carries_body_path_host_and_headers_and_keeps_the_connection() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            statuses = [await client.post(rx.url, b'{"n": %d}' % i, HEADERS) for i in range(3)]
            await client.close()
        assert statuses == [204, 204, 204]
        assert rx.connections == 1  # kept alive across the three POSTs
        head, body = rx.requests[2].split(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /hook/1?x=2 HTTP/1.1"
        assert b"Content-Type: application/json" in lines and b"X-Gridcell-Sequence: 7" in lines
        port = rx.url.split(":")[2].split("/")[0]
        assert f"Host: 127.0.0.1:{port}".encode() in lines
        assert body == b'{"n": 2}'

    run(go())


@pytest.mark.parametrize("response", [
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    [b"HTTP/1.1 202 Accepted\r\nContent-Length: 11\r\n\r\nhello", b" world"],  # body split over writes
])
def test_response_bodies_are_read_to_their_end_and_the_connection_reused(response: list[bytes]) -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: response) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            first = await client.post(rx.url, b"{}", HEADERS)
            second = await client.post(rx.url, b"{}", HEADERS)
            await client.close()
        assert first == second == int(response[0][9:12])
        assert rx.connections == 1

    run(go())


def test_connection_close_and_close_delimited_responses_end_the_connection() -> None:
    replies = {1: [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"],
               2: [b"HTTP/1.0 200 OK\r\n\r\nno length: ends with the connection", b"<close>"],
               3: NO_CONTENT}

    async def go() -> None:
        async with Receiver(lambda n, r: replies[n]) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            statuses = [await client.post(rx.url, b"{}", HEADERS) for _ in range(3)]
            await client.close()
        assert statuses == [200, 200, 204]
        assert rx.connections == 3

    run(go())


def test_an_idle_connection_closed_by_the_receiver_is_replaced_without_failing_the_post() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT + ([b"<close>"] if n == 1 else [])) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            assert await client.post(rx.url, b"{}", HEADERS) == 204
            await asyncio.sleep(0)  # (the close may or may not have reached the client yet: both must work)
            assert await client.post(rx.url, b"{}", HEADERS) == 204
            await client.close()
        assert len(rx.requests) == 2 and rx.connections == 2

    run(go())


def test_error_statuses_are_returned_not_raised() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"]) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            assert await client.post(rx.url, b"{}", HEADERS) == 503
            await client.close()

    run(go())


@pytest.mark.parametrize("interim", [b"HTTP/1.1 100 Continue\r\n\r\n",
                                     b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                                     b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"])
def test_interim_responses_are_not_taken_as_the_answer(interim: bytes) -> None:
    """RFC 9110 §15.2: 1xx responses precede the final one. The final 500 is what the POST returns, and the next
    request on the same connection gets its own answer, not the previous one's."""
    answers = {1: [interim, b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"],
               2: [interim, b"HTTP/1.1 204 No Content\r\n\r\n"]}

    async def go() -> None:
        async with Receiver(lambda n, r: answers[n]) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            assert await client.post(rx.url, b"{}", HEADERS) == 500
            assert await client.post(rx.url, b"{}", HEADERS) == 204
            assert rx.connections == 1
            await client.close()

    run(go())


def test_an_unasked_protocol_switch_fails_the_post() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"]) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            with pytest.raises(WebhookHTTPError, match="101"):
                await client.post(rx.url, b"{}", HEADERS)
            await client.close()

    run(go())


def test_failures_raise_what_the_worker_records() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: {1: [b"NOT HTTP AT ALL\r\n\r\n"], 2: [b"<close>"], 3: []}[n]) as rx:
            client = WebhookClient(timeout_s=0.5, allow_private=True)
            with pytest.raises(WebhookHTTPError, match="malformed"):
                await client.post(rx.url, b"{}", HEADERS)
            with pytest.raises(WebhookHTTPError, match="closed before the response"):
                await client.post(rx.url, b"{}", HEADERS)  # a fresh connection closed without answering
            with pytest.raises(TimeoutError):
                await client.post(rx.url, b"{}", HEADERS)  # no answer at all
            await client.close()
        closed = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        with pytest.raises(OSError):
            await WebhookClient(timeout_s=2, allow_private=True).post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)

    run(go())


def test_header_values_with_line_breaks_are_refused_before_anything_is_sent() -> None:
    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT) as rx:
            client = WebhookClient(timeout_s=5, allow_private=True)
            with pytest.raises(ValueError, match="line break"):
                await client.post(rx.url, b"{}", (("X-Evil", "a\r\nInjected: yes"),))
            await client.close()
        assert rx.requests == []

    run(go())


@pytest.mark.parametrize(("url", "origin", "host", "path"), [
    ("http://example.net/hook", ("http", "example.net", 80), "example.net", "/hook"),
    ("https://example.net", ("https", "example.net", 443), "example.net", "/"),
    ("https://example.net:8443/a/b?c=d&e", ("https", "example.net", 8443), "example.net:8443", "/a/b?c=d&e"),
    ("http://[::1]:9000/x", ("http", "::1", 9000), "[::1]:9000", "/x"),
])
def test_targets_are_parsed_into_origin_host_header_and_request_target(url: str, origin: tuple[str, str, int],
                                                                      host: str, path: str) -> None:
    target = parse_target(url)
    assert (target.origin, target.host_header, target.path) == (origin, host, path)


@pytest.mark.parametrize("url", ["ftp://example.net/x", "http:///nohost", "example.net/hook"])
def test_non_http_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_target(url)


def test_a_target_resolving_to_a_private_address_is_refused_at_connect_time() -> None:
    """Subscriptions are checked when made; a name that later resolves to loopback (DNS rebinding) must
    still not be reached unless private targets are allowed."""
    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT) as rx:
            url = rx.url.replace("127.0.0.1", "localhost")
            strict = WebhookClient(timeout_s=5)
            with pytest.raises(WebhookHTTPError, match="non-public address"):
                await strict.post(url, b"{}", HEADERS)
            await strict.close()
            assert rx.requests == []
            allowed = WebhookClient(timeout_s=5, allow_private=True)
            assert await allowed.post(rx.url, b"{}", HEADERS) == 204
            await allowed.close()

    run(go())


def _tls_receiver(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def test_https_targets_are_verified_against_the_system_and_the_configured_ca(tmp_path: Path) -> None:
    """A receiver with a certificate of the DSO's own CA is reached once that CA is configured; the same
    receiver is refused with the system CAs alone, and so is a certificate naming another host."""
    ca = trustme.CA()
    ca_file = tmp_path / "dso-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT, _tls_receiver(ca, "localhost")) as rx:
            url = rx.url.replace("127.0.0.1", "localhost")
            trusted = WebhookClient(timeout_s=5, ssl_context=tls_context(str(ca_file)), allow_private=True)
            assert await trusted.post(url, b'{"n":1}', HEADERS) == 204
            assert await trusted.post(url, b'{"n":2}', HEADERS) == 204
            await trusted.close()
            assert rx.connections == 1 and [r.endswith(b'{"n":2}') for r in rx.requests] == [False, True]
            system_only = WebhookClient(timeout_s=5, allow_private=True)
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
                await system_only.post(url, b"{}", HEADERS)
            await system_only.close()
        async with Receiver(lambda n, r: NO_CONTENT, _tls_receiver(ca, "other.example")) as rx:
            wrong_name = WebhookClient(timeout_s=5, ssl_context=tls_context(str(ca_file)), allow_private=True)
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                await wrong_name.post(rx.url.replace("127.0.0.1", "localhost"), b"{}", HEADERS)
            await wrong_name.close()
            assert rx.requests == []

    run(go())
    # The delivery worker records any of these as a failed attempt and retries: they are OSErrors.
    assert issubclass(ssl.SSLCertVerificationError, OSError)


def test_an_unreadable_webhook_ca_file_stops_the_server_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate")
    for path in (bad, tmp_path / "missing.pem"):
        with pytest.raises(ValueError, match="GRIDCELL_WEBHOOK_CA_FILE"):
            create_app(Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}", webhook_ca_file=str(path)))


def test_every_resolved_address_is_tried_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver whose first address refuses connections (an IPv6 address it does not listen on, say) is reached
    at the next one."""
    async def resolved(self: WebhookClient, host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]  # nobody listens on the first (the receiver binds 127.0.0.1)

    monkeypatch.setattr(WebhookClient, "_public_addresses", resolved)

    async def go() -> None:
        async with Receiver(lambda n, r: NO_CONTENT) as rx:
            client = WebhookClient(timeout_s=5)
            assert await client.post(rx.url, b"{}", HEADERS) == 204
            await client.close()

    run(go())
