"""The published import format: docs/topology.schema.json is what the import validates with, and the files in
examples/ follow it and load, through the CLI, into a working DSO with two MNOs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gridcell import cli
from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.topology.document import document_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_the_published_schema_is_the_imports_own() -> None:
    published = json.loads((ROOT / "docs" / "topology.schema.json").read_text())
    assert published == document_schema(), "regenerate docs/topology.schema.json from document_schema()"
    jsonschema.Draft202012Validator.check_schema(published)


@pytest.mark.parametrize("name", ["dso-small.json", "mno-telco-a.json", "mno-telco-b.geojson"])
def test_every_example_follows_the_schema(name: str) -> None:
    schema = json.loads((ROOT / "docs" / "topology.schema.json").read_text())
    jsonschema.validate(json.loads((EXAMPLES / name).read_text()), schema)


def test_the_schema_refuses_what_the_import_refuses() -> None:
    schema = json.loads((ROOT / "docs" / "topology.schema.json").read_text())
    bad = {"sites": [{"id": "s", "name": "n", "kind": "k", "lat": 91, "lon": 7, "color": "red"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    with pytest.raises(InvalidInput) as refused:
        topology.parse_document(bad, "dso")
    assert {e["loc"] for e in refused.value.errors} == {"sites/0/lat", "sites/0/color"}


def test_the_examples_load_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'gridcell.db'}"
    monkeypatch.setenv("GRIDCELL_DATABASE_URL", url)
    from gridcell.config import get_settings

    get_settings.cache_clear()

    def run(*args: str) -> str:
        with pytest.raises(SystemExit) as done:
            cli.main(list(args))
        out = capsys.readouterr()
        assert done.value.code == 0, out.err
        return out.out.strip()

    try:
        dso = run("admin", "create-org", "Small Netz", "--kind", "dso")
        ta = run("admin", "create-org", "Telco A", "--kind", "mno")
        tb = run("admin", "create-org", "Telco B", "--kind", "mno")
        run("admin", "create-agreement", dso, ta, "--plmn", "26201", "--level", "cell")
        run("admin", "create-agreement", dso, tb, "--plmn", "26202", "--level", "area")
        run("import", "topology", str(EXAMPLES / "mno-telco-a.json"), "--org", ta)
        run("import", "topology", str(EXAMPLES / "mno-telco-b.geojson"), "--org", tb)
        counts = json.loads(run("import", "topology", str(EXAMPLES / "dso-small.json"), "--org", dso))
    finally:
        get_settings.cache_clear()
    assert counts["sites"] == 6 and counts["usims"] == 12 and counts["links"] >= 12
    db = Database(url)
    with db.read() as s:
        assert len(topology.sites_of_org(s, dso)) == 6
        assert {a.mno_id for a in tenancy.agreements_for(s, dso)} == {ta, tb}
    db.dispose()
