"""The demo as `make run` starts it: its store is the one every other command opens by default (so `gridcell report`
reads the demo), it prints that store, it stores probes from every CPE so availability is there to see, and its
CPEs acknowledge the failover commands they carry out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gridcell.sim.live import HttpTwin
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.timeout(300)


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_make_run_serves_the_store_gridcell_report_reads(tmp_path: Path) -> None:
    port = free_port()
    # Under `make test` this runs inside make: without its MAKE* variables, no "make[1]: Entering …" lines.
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run", f"PORT={port}"], cwd=ROOT, env=clean,
                         capture_output=True, text=True, check=True)
    command = dry.stdout.strip().splitlines()[-1].split()
    assert command[0] == ".venv/bin/gridcell" and command[1] == "demo" and "--database" not in command
    assert command[command.index("--port") + 1] == str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
    err = (tmp_path / "demo.err").open("w")
    proc = subprocess.Popen([str(BIN / "gridcell"), *command[1:]], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=err, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 150
        banner = ""
        while "DSO operator" not in banner or not _up(base):
            assert proc.poll() is None, (tmp_path / "demo.err").read_text()[-2000:]
            assert time.monotonic() < deadline, banner[-2000:]
            time.sleep(0.5)
            banner = (tmp_path / "demo.err").read_text()
        store = f"sqlite:///{(tmp_path / 'gridcell.db').resolve()}"
        assert f"store: {store}" in banner
        token = re.search(r"DSO operator:\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        dso = _get(f"{base}/api/v1/me", token)["orgId"]
        # Every CPE probes every PLMN each 15 virtual minutes (1.5 s at 600x): availability comes in at once.
        while not [r for r in _get(f"{base}/api/v1/telemetry/availability", token) if r["probes24h"]]:
            assert time.monotonic() < deadline, "no probe stored"
            time.sleep(0.5)
        report = subprocess.run([str(BIN / "gridcell"), "report", "availability", "--dso", dso], cwd=tmp_path,
                                env={**env, "COLUMNS": "80"}, capture_output=True, text=True, timeout=120)
        assert report.returncode == 0, report.stderr
        assert f"store: {store}" in report.stderr
        sites = {r["siteId"] for r in _get(f"{base}/api/v1/telemetry/availability", token)}
        assert sites and all(s in report.stdout for s in sites), report.stdout[:2000]  # never cut at 80 columns
        assert re.search(r"\d+\.\d{3} %", report.stdout)
        assert not (ROOT / "gridcell.db").exists() or (ROOT / "gridcell.db").stat().st_mtime < time.time() - 300
        # A second demo on the same store recreates it; a store the demo did not make is refused.
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        err.close()
    (tmp_path / "other.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    refused = subprocess.run([str(BIN / "gridcell"), "demo", "--database", "other.db"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "did not make" in refused.stderr and "Traceback" not in refused.stderr


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_the_twins_cpes_acknowledge_what_they_carry_out() -> None:
    twin = object.__new__(HttpTwin)
    posted: list[tuple[str, str, dict[str, Any]]] = []
    twin.dso_auth = {"Authorization": "Bearer t"}
    twin._post = lambda method, path, headers, **kw: posted.append((method, path, kw["json"]))  # type: ignore[method-assign]
    twin.acknowledge([{"commandId": "fcmd_1", "action": "switch", "ackedAt": None},
                      {"commandId": "fcmd_2", "action": "stay", "ackedAt": "2026-01-01T00:00:00Z"}])
    assert posted == [("POST", "/api/v1/failover/commands/fcmd_1/ack",
                       {"status": "done", "detail": "carried out by the twin's CPE"})]
