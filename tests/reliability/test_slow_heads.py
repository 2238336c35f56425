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
