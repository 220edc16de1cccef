"""Every command explains itself with an example; every failure is one line, exit code 1.

The CLI runs as users run it (``python -m millrace`` in a subprocess) against ``millrace
up``, an address where nothing listens, or without a token.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from millrace.cli.main import app
from tests.cli.conftest import Stack
from tests.conftest import millrace_cli
from tests.support import free_port


def _one_line_error(done: subprocess.CompletedProcess[str], reason: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert reason in done.stderr, done.stderr


def test_a_wrong_token_is_one_line(stack: Stack) -> None:
    done = stack.cli("datasets", "list", "--token", "mr_not_a_token")
    _one_line_error(done, "token")


def test_an_unknown_journey_is_one_line(stack: Stack) -> None:
    done = stack.cli("journeys", "show", "0123456789abcdef")
    _one_line_error(done, "journey '0123456789abcdef' not found")
    _one_line_error(stack.cli("models", "promote", "no-such-model", "1"), "no-such-model")


def test_an_api_that_is_down_is_one_line(stack: Stack) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = stack.cli("journeys", "list", "--json", "--url", url)
    _one_line_error(done, f"cannot reach the Millrace API at {url}: connection refused")
    rows = stack.home / "rows.json"
    rows.write_text('[{"age": 50}]')
    done = stack.cli("predict", "m", "--input", str(rows), MILLRACE_SERVE_URL=url)
    _one_line_error(done, f"cannot reach the Millrace inference server at {url}")


def test_a_missing_token_says_how_to_give_one(stack: Stack) -> None:
    done = stack.cli("journeys", "list", MILLRACE_TOKEN="")
    _one_line_error(done, "no API token: set MILLRACE_TOKEN or pass --token")


def test_a_bad_input_file_is_one_line(stack: Stack) -> None:
    rows = stack.home / "rows.json"
    rows.write_text('{"not": "rows"}')
    _one_line_error(stack.cli("predict", "m", "--input", str(rows)), "expected a list of objects")


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, TyperCommand]]:
    """Every leaf command, sub-typers included (this typer vendors its own click)."""
    found = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, TyperGroup):
            found += _commands(cmd, (*path, name))
        else:
            found.append((" ".join((*path, name)), cmd))
    return found


def test_every_command_has_an_example_in_its_help() -> None:
    root = typer.main.get_group(app)
    assert isinstance(root, TyperGroup)
    commands = _commands(root)
    names = {name for name, _ in commands}
    assert {"datasets upload", "journeys answer", "models rollback", "predict"} <= names
    missing = [name for name, cmd in commands if "Example:" not in (cmd.help or "")]
    assert missing == [], f"commands without an 'Example:' line: {missing}"


def test_help_shows_the_example() -> None:
    done = millrace_cli({}, "journeys", "answer", "--help")
    assert done.returncode == 0, done.stderr
    assert "Example: millrace journeys answer" in done.stdout


def test_server_role_errors_are_one_line_too(tmp_path: Path) -> None:
    """Long reasons stay on one line (Rich would wrap them at 80 columns in a pipe)."""
    missing = tmp_path / ("a-rather-long-folder-name-" * 3) / "traffic.csv"
    env = {"MILLRACE_HOME": str(tmp_path)}
    done = millrace_cli(env, "pipeline", "run", "--data", str(missing), "--target", "down")
    assert done.returncode == 1  # (its live progress table is on stdout)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot read traffic.csv")
    bad = millrace_cli({**env, "MILLRACE_EVENT_BUS": "carrier-pigeon"}, "api")
    assert bad.returncode == 2  # bad settings
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: invalid settings")
