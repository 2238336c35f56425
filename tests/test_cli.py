"""The command line as a person meets it: every command explains itself (--help), and every command refuses what
it cannot take (an unknown option, a value of the wrong type or out of range, an unknown organisation or grid)
with one line on stderr and exit 2: never a traceback, never a silent success."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from gridcell import cli


def _commands() -> Iterator[tuple[list[str], Any]]:
    cli._register_capability_commands()

    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        if hasattr(cmd, "commands"):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    yield from walk(typer.main.get_command(cli.app), [])


def _dummies(cmd: Any) -> list[str]:
    """Plausible values for the command's required arguments and options (so parsing reaches the option tried)."""
    out: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        value = "1" if p.bare_type() in ("int", "float") else "x"
        out += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return out


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def _refused(code: int, err: str, what: str) -> None:
    assert code == 2, f"{what}: exit {code}, {err}"
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("store: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {err!r}"
    assert "Traceback" not in err


COMMANDS = list(_commands())


def test_every_command_has_help() -> None:
    assert len(COMMANDS) > 25
    missing = [" ".join(path) for path, cmd in COMMANDS if not (cmd.help or "").strip()]
    assert not missing, f"commands without help text: {missing}"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_refuses_bad_options_in_one_line(path: list[str], capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may create a store here
    monkeypatch.setenv("GRIDCELL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    cmd = dict((tuple(p), c) for p, c in COMMANDS)[tuple(path)]
    code, out, _err = _run([*path, "--help"], capsys)
    assert code == 0 and "Usage" in out
    base = [*path, *_dummies(cmd)]
    _refused(*_run([*base, "--no-such-option"], capsys)[::2], f"{path} --no-such-option")
    for p in cmd.params:
        if p.param_type_name != "option" or p.is_flag:
            continue
        if p.bare_type() in ("int", "float"):
            _refused(*_run([*base, p.opts[0], "not-a-number"], capsys)[::2], f"{path} {p.opts[0]} not-a-number")
            if p.min is not None:
                _refused(*_run([*base, p.opts[0], str(p.min - 1)], capsys)[::2], f"{path} {p.opts[0]} below min")
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "gridcell.db").exists()


@pytest.mark.parametrize("args", [
    ["demo", "--headless", "--grid", "nosuchgrid"], ["demo", "--headless", "--years", "-1"],
    ["demo", "--headless", "--modem-mix", "usb_stick=1"], ["demo", "--headless", "--modem-mix", "esim=-1"],
    ["demo", "--headless", "--set", "no_such_parameter=1"], ["demo", "--headless", "--set", "crews=many"],
    ["demo", "--speed", "0"], ["demo", "--port", "70000"], ["serve", "--log-level", "loud"],
    ["report", "availability", "--dso", "nope"], ["report", "incidents", "--org", "nope"],
    ["report", "problems", "--org", "nope"], ["admin", "create-client", "nope", "--role", "viewer"],
    ["admin", "create-org", "Acme", "--kind", "telco"], ["import", "topology", "missing.json", "--org", "nope"],
])
def test_values_that_cannot_work_are_refused(args: list[str], capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDCELL_DATABASE_URL", f"sqlite:///{tmp_path / 'gridcell.db'}")
    from gridcell.config import get_settings

    get_settings.cache_clear()
    if args[0] in ("admin", "import"):  # commands that write make the store; reports need one
        (tmp_path / "gridcell.db").touch()
    code, _, err = _run(args, capsys)
    get_settings.cache_clear()
    _refused(code, err, " ".join(args))
