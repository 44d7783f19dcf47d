"""`run.py --local` reads Pulumi.<stack>.yaml strictly: each problem is one line naming file and key."""

import shutil

import pytest

from components import PROJECT_DIR
from components.settings import SettingsError, load_stack_settings
from runner import cli
from runner.emulator import engine


@pytest.fixture
def project(tmp_path):
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def problem(project, text, stack="t"):
    (project / "Pulumi.t.yaml").write_text(text)
    with pytest.raises(SettingsError) as error:
        load_stack_settings(stack, project)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_the_rehearsal_deploys_from_the_same_strict_reader(project):
    """The emulator's deploy reads a stack file as run.py's checks do: a missing file is refused
    in one line, never deployed as an empty config."""
    with pytest.raises(SettingsError, match=r"^Pulumi\.gone\.yaml: no such stack file"):
        engine.stack_config("gone", project)
    (project / "Pulumi.t.yaml").write_text("config: [1, 2]\n")
    with pytest.raises(SettingsError, match="config: expected a mapping"):
        engine.stack_config("t", project)


def test_the_shipped_dev_stack_file_is_accepted():
    settings = load_stack_settings("dev")
    assert settings.region == "us-west-2" and settings.rows >= 1


def test_a_missing_stack_file_is_refused(project):
    message = problem(project, "config: {}\n", stack="prod")
    assert message.startswith("Pulumi.prod.yaml: no such stack file")
    assert "Pulumi.t.yaml" in message and "pulumi stack init prod" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "config:\n  training-pipeline:rowz: 5\n",
            "Pulumi.t.yaml: training-pipeline:rowz: unknown key (did you mean training-pipeline:rows?)",
        ),
        ("config:\n  aws:regoin: us-west-2\n", "Pulumi.t.yaml: aws:regoin: unknown key (did you mean aws:region?)"),
        ("config:\n  rows: 5\n", "Pulumi.t.yaml: rows: unknown key (did you mean training-pipeline:rows?)"),
    ],
)
def test_unknown_and_misspelt_keys_are_refused(project, text, expected):
    assert problem(project, text) == expected


def test_a_yaml_syntax_error_is_one_line_with_its_position(project):
    message = problem(project, "config:\n  training-pipeline:rows: [5\n")
    assert message.startswith("Pulumi.t.yaml: not valid YAML at line 3, column 1:")
    message = problem(project, "config:\n\ttraining-pipeline:rows: 5\n")  # PyYAML's words, naming the tab
    assert message == (
        "Pulumi.t.yaml: not valid YAML at line 2, column 1: found character '\\t' that cannot start any token"
    )


def test_a_bad_region_is_reported_under_aws_region(project):
    message = problem(project, "config:\n  aws:region: us-west-9\n")
    assert message.startswith("Pulumi.t.yaml: aws:region: 'us-west-9' is not a region")
    assert "xgboostVersion" not in message


def test_a_bad_value_names_the_file_and_the_namespaced_key(project):
    assert problem(project, "config:\n  training-pipeline:rows: 0\n").startswith(
        "Pulumi.t.yaml: training-pipeline:rows: 0 is not an integer"
    )


def test_other_providers_keys_are_left_alone(project):
    (project / "Pulumi.t.yaml").write_text("config:\n  aws:profile: dev\n  random:seed: 3\n")
    assert load_stack_settings("t", project).region == "us-west-2"


def test_run_py_reports_a_bad_stack_file_in_one_line_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("components.settings.PROJECT_DIR", tmp_path)
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  training-pipeline:rowz: 5\n")
    monkeypatch.setattr("components.settings.load_stack_settings.__defaults__", ("dev", tmp_path))
    code = cli.main(["--local", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "run.py: error: Pulumi.dev.yaml: training-pipeline:rowz: unknown key (did you mean training-pipeline:rows?)\n"
    )
    assert not (tmp_path / "runs").exists()
