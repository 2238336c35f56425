"""Slowloris: connections that never finish their request head are closed by `gridcell serve` after its head
timeout, while complete requests are answered meanwhile."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from gridcell.bench.exposure import Server


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def test_half_sent_heads_are_closed_and_others_served(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gridcell.db'}"
    with Server(tmp_path, url, {"GRIDCELL_HEAD_TIMEOUT_S": "2"}) as server:
        socks = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"POST /api/v1/ingest/notifications HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            s.setblocking(False)
            socks.append(s)
        idle = socket.create_connection(("127.0.0.1", server.port))  # opened, nothing sent
        idle.setblocking(False)
        assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200  # others are served
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(_closed(s) for s in [*socks, idle]):
            time.sleep(0.2)
        assert all(_closed(s) for s in [*socks, idle]), "half-sent heads are still open"
        for s in [*socks, idle]:
            s.close()
        assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200


def test_a_trickled_body_is_cut_off_and_nothing_is_stored(tmp_path: Path) -> None:
    """A complete head followed by a body that never finishes: closed after the body timeout, no alarm stored;
    a body that arrives in time, in pieces, is taken."""
    import orjson

    from gridcell.bench.exposure import alarm, build_world

    url = f"sqlite:///{tmp_path / 'gridcell.db'}"
    world = build_world(url, 1, None)
    auth = {"Authorization": f"Bearer {world.mno_token}"}

    def body_for(alarm_id: str) -> bytes:
        return orjson.dumps([alarm(1, alarm_id, world.cells[0][1])])

    with Server(tmp_path, url, {"GRIDCELL_BODY_TIMEOUT_S": "2"}) as server:
        body = body_for("SLOW-BODY")
        s = socket.create_connection(("127.0.0.1", server.port))
        head = (f"POST /api/v1/ingest/notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: {auth['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        s.sendall(head + body[:5])  # the rest never comes
        s.setblocking(False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _closed(s):
            time.sleep(0.2)
        assert _closed(s), "a trickled body kept its connection"
        s.close()
        alarms = httpx.get(f"{server.base}/api/v1/alarms", headers=auth, timeout=10).json()
        assert not [a for a in alarms if a.get("alarmId") == "SLOW-BODY"]
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        ok = body_for("PIECES")
        s.sendall(head.replace(str(len(body)).encode(), str(len(ok)).encode()) + ok[:10])
        s.sendall(ok[10:])
        assert s.recv(64).startswith(b"HTTP/1.1 200"), "a body sent in time was not taken"
        s.close()
