"""Schemathesis over /openapi.json with every check: no 5xx, every status code documented, responses and headers
conforming to the schema, schema-valid requests taken and invalid ones refused, as a DSO and as an MNO.

Bounded: a few examples per operation, so the file runs in well under a minute or two. The SSE route
streams forever and is left out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED
from schemathesis.checks import load_all_checks
from schemathesis.python import asgi

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy
from tests.conftest import World, alarm, build_world, cell_dn, make_settings

# Every check schemathesis has (as `--checks all`), configured in schemathesis.toml at the repository root: with
# no `checks=` argument, a case runs each check its operation's configuration enables, and by default that is all.
load_all_checks()
_DEFAULTS = schemathesis.config.SchemathesisConfig.discover().projects.get_default().checks
_ALL = [c.__name__ for c in REGISTERED.get_all() if not isinstance(c, type)]
assert len(_ALL) >= 14 and all(_DEFAULTS.get_by_name(name=n).enabled for n in _ALL), _ALL
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


# Built at import: schemathesis parametrizes at collection time (its lazy `from_fixture` loader does not
# work with this pytest). The store is migrated and populated by the module fixture below.
_DB_DIR = tempfile.mkdtemp(prefix="gridcell-schemathesis-")
_DB = Database(f"sqlite:///{_DB_DIR}/gridcell.db", sqlite_synchronous="NORMAL")
APP = create_app(make_settings(_DB.url), db=_DB, migrate=False, run_workers=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path_regex=r"/events$")


@pytest.fixture(scope="module")
def st_env() -> Iterator[tuple[FastAPI, World]]:
    upgrade(_DB)
    tenancy.token_cache.clear()
    with TestClient(APP) as client:
        world = build_world(client, _DB)
        # Some state so list and status routes return data, not only empty lists.
        r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                        json=[alarm("notifyNewAlarm", "ST-1", cell_dn("26201", 0), additionalText="x"),
                              alarm("notifyNewAlarm", "ST-2", "SubNetwork=1,ManagedElement=unknown")])
        assert r.status_code == 200, r.text
        r = client.post("/api/v1/subscriptions", json={"siteIds": ["D1-S0"]}, headers=world.dso.auth())
        assert r.status_code == 201, r.text
    yield APP, world
    asgi.shutdown_lifespans()
    _DB.dispose()
    shutil.rmtree(_DB_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def dso_auth(st_env: tuple[FastAPI, World]) -> dict[str, str]:
    return st_env[1].dso.auth("operator")


@pytest.fixture(scope="module")
def mno_auth(st_env: tuple[FastAPI, World]) -> dict[str, str]:
    return st_env[1].mno.auth("operator")


@schema.parametrize()
@SETTINGS
def test_api_as_dso_operator(case: schemathesis.Case[Any], dso_auth: dict[str, str]) -> None:
    case.call_and_validate(headers=dso_auth)


@schema.parametrize()
@SETTINGS
def test_api_as_mno_operator(case: schemathesis.Case[Any], mno_auth: dict[str, str]) -> None:
    case.call_and_validate(headers=mno_auth)
