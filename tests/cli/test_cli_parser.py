"""run.py's parser: starting a run is a command like the others, and each command takes only its own flags
(issue 26: the CLI as a parser plus one module per command)."""

import pytest

from runner import cli


def _refusal(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv", [["--local", "--label", "y"], ["start", "--local", "--label", "y"]], ids=["no command", "start"]
)
def test_start_is_the_command_run_py_runs_without_one(capsys, argv):
    assert _refusal(capsys, argv) == "run.py: error: --label only applies with --data"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["list", "--dry-run"], "--dry-run does not apply to list"),
        (["--dry-run"], "--dry-run does not apply when starting a run"),
        (["runs", "--seed", "3"], "--seed does not apply to runs (it reads past runs)"),
        (["runs", "show", "x", "--hp", "eta=1"], "--hp does not apply to runs (it reads past runs)"),
        (
            ["serve", "--name", "x", "--rows", "5"],
            "--name, --rows do not apply to serve (it starts no run: clients do)",
        ),
        (["models", "--note", "why"], "--note does not apply to models"),
        (
            ["follow", "arn:aws:states:x", "--detach", "--seed", "2"],
            "--detach, --seed only apply when starting a run, not to follow "
            "(follow detaches on Ctrl-C by default; --stop stops)",
        ),
    ],
)
def test_a_flag_another_command_takes_is_refused_by_name(capsys, argv, expected):
    assert _refusal(capsys, argv) == f"run.py: error: {expected}"


def test_a_word_that_is_no_command_is_named_with_the_commands(capsys):
    line = _refusal(capsys, ["lsit"])
    assert "invalid choice: 'lsit'" in line and "'start'" in line and "'list'" in line


def test_the_help_lists_the_commands_and_starts_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--local", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "run.py COMMAND --help" in out and "    follow " in out and "    serve " in out
    assert "--rows ROWS" in out and "--max-cost USD" in out


def test_a_commands_help_shows_only_its_own_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["list", "--help"])
    out = capsys.readouterr().out
    assert "--max N" in out and "--local" in out and "--rows" not in out and "--detach" not in out
