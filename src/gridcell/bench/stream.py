"""A telecontrol-like stream between a CPE and the head-end: one small sequence-numbered UDP packet every
100 ms each way (as IEC 60870-5-104 spontaneous and cyclic traffic would be), each side writing the monotonic
arrival time of every packet it receives. The interruption of a failover is the longest gap between arrivals.

    python -m gridcell.bench.stream head --listen 10.99.0.1:2404 --out head.log
    python -m gridcell.bench.stream cpe --to 10.99.0.1:2404 --out cpe.log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PERIOD_S = 0.1
_PACKET = struct.Struct("!4sQ")
MAGIC = b"GCTC"


class _Side(asyncio.DatagramProtocol):
    def __init__(self, out: Path, reply_to_sender: bool) -> None:
        self.out = out.open("a", buffering=1)
        self.reply_to_sender = reply_to_sender
        self.peer: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) == _PACKET.size and data[:4] == MAGIC:
            self.out.write(f"{time.monotonic():.6f} {_PACKET.unpack(data)[1]} {addr[0]}\n")
            if self.reply_to_sender:
                self.peer = addr  # the head-end answers whichever address the CPE now sends from


async def _run(role: str, address: tuple[str, int], out: Path) -> None:
    loop = asyncio.get_running_loop()
    if role == "head":
        transport, side = await loop.create_datagram_endpoint(lambda: _Side(out, True), local_addr=address)
    else:
        transport, side = await loop.create_datagram_endpoint(lambda: _Side(out, False), local_addr=("0.0.0.0", 0))
        side.peer = address
    seq = 0
    next_at = time.monotonic()
    while True:
        if side.peer is not None:
            seq += 1
            with contextlib.suppress(OSError):  # no route for a moment during a switch: the gap is the measure
                transport.sendto(_PACKET.pack(MAGIC, seq), side.peer)
        next_at += PERIOD_S
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


def longest_gap(path: Path, start: float | None = None, end: float | None = None) -> float:
    """The longest time in ms without an arrival within [start, end] (monotonic seconds; the edges count)."""
    times = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError, IndexError):
                times.append(float(line.split()[0]))
    times.sort()
    lo = start if start is not None else (times[0] if times else 0.0)
    hi = end if end is not None else (times[-1] if times else 0.0)
    inside = [lo] + [t for t in times if lo <= t <= hi] + [hi]
    return max((b - a for a, b in itertools.pairwise(inside)), default=0.0) * 1000.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridcell.bench.stream")
    parser.add_argument("role", choices=["head", "cpe"])
    parser.add_argument("--listen", help="HOST:PORT (head)")
    parser.add_argument("--to", help="HOST:PORT of the head-end (cpe)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    host, _, port = (args.listen if args.role == "head" else args.to).rpartition(":")
    try:
        asyncio.run(_run(args.role, (host, int(port)), Path(args.out)))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
