"""TM Forum's TMF621 conformance collection (CTK) through newman against a running `gridcell serve`.

The server runs on a free port over a temporary SQLite store holding one DSO with a single agreement (so the
CTK's tickets need not name the addressee MNO). The API stays authenticated: the run uses a copy of the
collection with collection-level bearer auth carrying a DSO operator's token. The CTK is written against v2
paths; `TroubleTicketAPI` points at the v4 base path, its checks apply unchanged.

newman is pinned in tests/e2e/package.json + package-lock.json and installed with `npm ci` when missing.
In CI this test must run; elsewhere it skips with a reason when node/npm are absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy
from tests.conftest import free_port
from tests.e2e.conftest import need

HERE = Path(__file__).resolve().parent
CTK = HERE.parents[1] / ".." / "shared" / "standards" / "tmf" / "ctk-tmf621"
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = HERE / "artifacts"


def _newman() -> Path:
    binary = HERE / "node_modules" / ".bin" / "newman"
    if not binary.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)
    return binary


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'ctk.db'}"
    db = Database(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    with db.write() as s:
        dso = tenancy.create_org(s, "CTK DSO", "dso")
        mno = tenancy.create_org(s, "CTK MNO", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno, ["26201"], "cell")
        token = tenancy.create_client(s, dso, "operator", "ctk")[1]
    db.dispose()
    port = free_port()
    env = {**os.environ, "GRIDCELL_DATABASE_URL": url}
    script = Path(sys.executable).parent / "gridcell"
    exe = str(script) if script.exists() else (shutil.which("gridcell") or "gridcell")
    proc = subprocess.Popen([exe, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"gridcell serve did not come up: {out[-2000:]}")
            time.sleep(0.2)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _with_bearer(collection: dict[str, Any], token: str) -> dict[str, Any]:
    return {**collection, "auth": {"type": "bearer", "bearer": [{"key": "token", "value": token, "type": "string"}]}}


def test_tmf621_ctk_passes(server: tuple[str, str], tmp_path: Path) -> None:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "node/npm not installed")
    need(CTK.is_dir(), f"TMF621 CTK not found at {CTK} (../shared beside the repo)")
    base, token = server
    collection = json.loads((CTK / "CTK-TMF621-TroubleTicket.postman_collection.json").read_text(encoding="utf-8"))
    env = json.loads((CTK / "TMForumR18.0.postman_environment.json").read_text(encoding="utf-8"))
    for v in env["values"]:
        if v["key"] == "TroubleTicketAPI":
            v["value"] = f"{base}/tmf-api/troubleTicket/v4"
    coll_path, env_path = tmp_path / "ctk.json", tmp_path / "env.json"
    coll_path.write_text(json.dumps(_with_bearer(collection, token)), encoding="utf-8")
    env_path.write_text(json.dumps(env), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    report = ARTIFACTS / "newman-tmf621.json"
    run = subprocess.run([str(_newman()), "run", str(coll_path), "-e", str(env_path), "--reporters", "cli,json",
                          "--reporter-json-export", str(report), "--timeout-request", "10000"],
                         capture_output=True, text=True, timeout=300)
    stats = json.loads(report.read_text(encoding="utf-8"))["run"]["stats"]
    assert run.returncode == 0 and stats["assertions"]["failed"] == 0, run.stdout[-6000:]
    assert stats["requests"]["total"] == 14 and stats["assertions"]["total"] > 50, stats
