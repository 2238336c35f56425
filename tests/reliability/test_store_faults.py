"""The store failing under the exchange: a full filesystem. While it lasts, ingest is refused with 503 and
Retry-After (never a 500, never an acknowledgement of what was not stored) and /readyz says so; when space
returns, both recover by themselves and nothing acknowledged is missing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from tests.conftest import IN_CI, PLMN_A, alarm, build_world, cell_dn, fresh_database, make_settings


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of the test's own (needs root: mount)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0:
        if IN_CI:
            raise AssertionError("CI runs as root: the full-filesystem test must run")
        pytest.skip("mounting a small filesystem needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        if IN_CI:
            raise AssertionError(f"mount failed in CI: {r.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Fill the filesystem to the last byte (it may be full already: the store's WAL can take the rest)."""
    chunk = b"\0" * 65536
    try:
        with open(path, "wb") as f:
            while True:
                f.write(chunk)
                f.flush()
    except OSError:
        pass


def test_a_full_filesystem_gives_503_and_recovers_by_itself(small_fs: Path) -> None:
    db = fresh_database(f"sqlite:///{small_fs / 'gridcell.db'}")
    app = create_app(make_settings(db.url), db=db, migrate=False)
    acknowledged: list[str] = []
    with TestClient(app) as client:
        world = build_world(client, db)
        assert client.get("/readyz").status_code == 200
        filler = small_fs / "filler"
        _fill(filler)
        statuses = []
        for i in range(40):
            body = alarm("notifyNewAlarm", f"FULL-{i}", cell_dn(PLMN_A, i % 3), additionalText="x" * 3000)
            r = client.post("/api/v1/ingest/notifications", json=body, headers=world.mno.auth())
            statuses.append(r.status_code)
            if r.status_code == 200:
                acknowledged.append(f"FULL-{i}")
            else:
                assert r.status_code == 503, r.text
                assert int(r.headers["Retry-After"]) >= 1
                assert r.headers["content-type"].startswith("application/problem+json")
        assert 503 in statuses, statuses
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["components"]["database"]["writable"] is False
        filler.unlink()
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        r = client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "AFTER", cell_dn(PLMN_A, 0)),
                        headers=world.mno.auth())
        assert r.status_code == 200, r.text
        acknowledged.append("AFTER")
        stored = {a["id"] for a in client.get("/api/v1/alarms", params={"active": "false", "limit": 1000},
                                              headers=world.mno.auth("viewer")).json()}
        assert set(acknowledged) <= stored
    db.dispose()
