"""The head-end's probe responder for the testbed, with random loss on one PLMN: echoes of probes that came
through `--lossy SUBNET` are dropped with probability `--loss` (the CPE's address on a PLMN tells which PLMN a
probe took). Stands in for netem where the kernel has none.

    python -m gridcell.bench.lossy_echo --listen 10.99.0.1:7 --lossy 10.1.0.0/24 --loss 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import sys
from collections.abc import Sequence

from gridcell.agent.probe import EchoResponder


class LossyEcho(EchoResponder):
    def __init__(self, lossy: ipaddress.IPv4Network | None, loss: float, seed: int) -> None:
        self.lossy, self.loss, self.random = lossy, loss, random.Random(seed)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.lossy is not None and ipaddress.ip_address(addr[0]) in self.lossy and self.random.random() < self.loss:
            return
        super().datagram_received(data, addr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridcell.bench.lossy_echo")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--lossy", help="the CPE subnet of the PLMN whose echoes are dropped")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    lossy = ipaddress.IPv4Network(args.lossy) if args.lossy else None

    async def serve() -> None:
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: LossyEcho(lossy, args.loss, args.seed),
                                                                  local_addr=(host, int(port)))
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
