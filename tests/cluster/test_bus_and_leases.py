"""The NATS JetStream bus (fan-out, consumer groups, codec) and PostgreSQL leases (takeover, singleton)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from gridcell.core.bus import LOCAL_ONLY, InProcessBus, Message
from gridcell.core.db import Database
from gridcell.core.leases import DbLeases, LeaseKeeper, singleton
from gridcell.core.nats_bus import NatsBus, decode, encode, register_type
from gridcell.exposure.subscriptions import OutboxMessage
from tests.cluster.helpers import NATS_URL, nats_available, unique_prefix
from tests.conftest import PG_URL, fresh_database, postgres_available, private_database
from tests.waiting import wait_until


@register_type
@dataclass(frozen=True)
class Sample:
    name: str
    at: datetime
    body: bytes
    tags: list[str] = field(default_factory=list)
    secret: str | None = field(default=None, metadata=LOCAL_ONLY)


def test_codec_round_trip_drops_local_only_fields() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    [got] = decode(encode([Sample("a", at, b"\x00\xff", ["x"], secret="s3cret")]))
    assert got == Sample("a", at, b"\x00\xff", ["x"], secret=None)
    [wake] = decode(encode([OutboxMessage("sub_1", 7, "nid", b"{}", "https://hook.example/x", "s3cret")]))
    assert wake == OutboxMessage("sub_1", 7, "nid", None, None, None)  # a wake-up: no payload, no secret
    with pytest.raises(ValueError):
        decode(b'[{"$dc": "os:system", "f": {}}]')


def test_in_process_groups_get_each_message_once_per_group() -> None:
    bus = InProcessBus()
    seen: dict[str, list[int]] = {"a1": [], "a2": [], "b": []}
    bus.subscribe_group("t", "a", lambda m: seen["a1"].append(m.payload))
    bus.subscribe_group("t", "a", lambda m: seen["a2"].append(m.payload))
    bus.subscribe_group("t", "b", lambda m: seen["b"].append(m.payload))
    for i in range(10):
        bus.publish("t", i)
    assert sorted(seen["a1"] + seen["a2"]) == list(range(10)) and seen["a1"] and seen["a2"]
    assert seen["b"] == list(range(10))


@pytest.fixture
def nats_buses() -> Iterator[Callable[[str], NatsBus]]:
    reason = nats_available()
    if reason:
        pytest.skip(reason)
    prefix = unique_prefix()
    made: list[NatsBus] = []

    def make(node: str) -> NatsBus:
        bus = NatsBus(NATS_URL, prefix=prefix, node=node, delivery_topics={"exposure.outbox"})
        bus.start()
        made.append(bus)
        return bus

    yield make
    if made:
        made[0].delete_streams()
    for bus in made:
        bus.close()


def test_nats_fan_out_reaches_every_process_and_groups_share_the_work(
        nats_buses: Callable[[str], NatsBus]) -> None:
    a, b = nats_buses("node-a"), nats_buses("node-b")
    got: dict[str, list[Any]] = {"a": [], "b": []}
    lock = threading.Lock()

    def collect(key: str) -> Callable[[Message], None]:
        def listener(m: Message) -> None:
            with lock:
                got[key].append(m.payload)
        return listener

    a.subscribe("exposure.outbox", collect("a"))
    b.subscribe("exposure.outbox", collect("b"))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(50):
        (a if i % 2 else b).publish("exposure.outbox", OutboxMessage(f"sub_{i % 3}", i, f"n{i}", b"x", "u", "s"))
    # every process sees every message once: its own with the payload, the other's as a wake-up
    wait_until(lambda: len(got["a"]) == 50 and len(got["b"]) == 50)
    assert sorted(m.seq for m in got["a"]) == list(range(50))
    assert {m.seq for m in got["a"] if m.payload is None} == {i for i in range(50) if i % 2 == 0}

    # work queue: each event is handled once per group across both processes, every group sees all
    handled: dict[str, list[int]] = {"g1@a": [], "g1@b": [], "g2@b": []}
    for node, bus, group in (("a", a, "g1"), ("b", b, "g1"), ("b", b, "g2")):
        bus.subscribe_group("failover.cpe_command", group, collect_into(handled[f"{group}@{node}"], lock))
    time.sleep(0.5)  # consumers created
    for i in range(40):
        (a if i % 2 else b).publish("failover.cpe_command", Sample(f"e{i}", at, b"", [str(i)]))
    wait_until(lambda: len(handled["g1@a"]) + len(handled["g1@b"]) >= 40 and len(handled["g2@b"]) >= 40)
    time.sleep(0.3)
    g1 = [s.name for s in handled["g1@a"] + handled["g1@b"]]
    assert sorted(g1) == sorted(f"e{i}" for i in range(40)), "each event once per group"
    assert sorted(s.name for s in handled["g2@b"]) == sorted(f"e{i}" for i in range(40))
    health = a.health()
    assert health["ok"] and health["connected"] and health["publish_errors"] == 0


def collect_into(target: list[Any], lock: threading.Lock) -> Callable[[Message], None]:
    def listener(m: Message) -> None:
        with lock:
            target.append(m.payload)
    return listener


@pytest.fixture
def pg() -> Iterator[Database]:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    with private_database(PG_URL) as url:
        db = fresh_database(url)
        yield db
        db.dispose()


def test_lease_is_exclusive_renewed_and_taken_over_after_expiry(pg: Database) -> None:
    one, two = DbLeases(pg, "one", ttl_s=1.0), DbLeases(pg, "two", ttl_s=1.0)
    assert one.acquire("job:x") == (True, 0.0)
    held, remaining = two.acquire("job:x")
    assert not held and 0 < remaining <= 1.0
    assert one.renew() == set() and one.valid("job:x")
    # "one" stops renewing (it died): the lease runs out on the database's clock and "two" gets it
    wait_until(lambda: two.acquire("job:x")[0], what="the lease to run out and pass to two")
    assert not one.valid("job:x")  # one trusted it for 0.8 of the ttl only
    assert one.renew() == {"job:x"}  # "one" learns it lost the lease
    with pg.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT holder, epoch FROM cluster_leases WHERE name = 'job:x'").one()
    assert tuple(row) == ("two", 2)  # fencing token moved on
    two.release(["job:x"])
    assert one.acquire("job:x")[0]


def test_singleton_runs_once_and_moves_when_its_holder_stops_renewing(pg: Database) -> None:
    async def scenario() -> None:
        runs: list[str] = []

        def job(node: str) -> Callable[[], Any]:
            async def loop() -> None:
                while True:
                    runs.append(node)
                    await asyncio.sleep(0.05)
            return loop

        a, b = DbLeases(pg, "a", ttl_s=0.6), DbLeases(pg, "b", ttl_s=0.6)
        keeper_a, keeper_b = LeaseKeeper(a), LeaseKeeper(b)
        keeper_a.start()
        keeper_b.start()
        ta = asyncio.create_task(singleton(a, "demo", job("a")))
        deadline = time.monotonic() + 30
        while "a" not in runs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        tb = asyncio.create_task(singleton(b, "demo", job("b")))
        await asyncio.sleep(1.0)
        assert set(runs) == {"a"}, "only the first holder runs the job"

        def unreachable(*args: Any) -> Any:
            raise ConnectionError("database unreachable from a")

        a.renew = unreachable  # type: ignore[method-assign]  # "a" is cut off: it can neither renew nor acquire
        a.acquire = unreachable  # type: ignore[method-assign]
        deadline = time.monotonic() + 30
        while "b" not in runs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert "b" in runs, "the job moved to b"
        assert "a" not in runs[runs.index("b"):], f"a still ran after b took over: {runs}"
        assert not ta.done()  # "a" keeps trying to get the lease back, without running the job
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)
        if keeper_a.task is not None:
            keeper_a.task.cancel()
        await keeper_b.stop()

    asyncio.run(scenario())
