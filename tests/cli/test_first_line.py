"""`run.py --local` says what it does as soon as the run is checked, and bad input is still one line (issue 20).

Every refusal of a run comes before its first progress line: the checks that need the stack (its
job name prefix, bucket, run defaults) use the outputs its deployment will export
(`runner.emulator.preflight`), so nothing is deployed, loaded or written for a run that is refused.
How soon the line comes is measured by `make bench` (bench/first_line_bench.py), not here.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from dev_stack import PREFIX

import runner.emulator
from components import PROJECT_DIR
from components.settings import load_stack_settings
from runner import cli
from runner.emulator import local_stack, preflight

DEPLOYING = "run.py: deploying stack dev into the local emulator ..."


def test_the_first_line_comes_before_the_deployment(monkeypatch, capsys, tmp_path):
    seen_at_deploy = []

    def watched_local_stack(settings):
        seen_at_deploy.append(capsys.readouterr().err)
        raise runner.emulator.DeployError("stopped by the test")

    monkeypatch.setattr(runner.emulator, "local_stack", watched_local_stack)
    assert cli.main(["--local", "--no-progress", "--rows", "100", "--runs-dir", str(tmp_path)]) == 1
    assert seen_at_deploy == [DEPLOYING + "\n"]
    assert list(tmp_path.iterdir()) == []  # the claimed folder is given back when the deployment fails


@pytest.mark.parametrize("mode", [[], ["--no-progress"], ["--json"]], ids=["default", "plain", "json"])
def test_the_first_line_comes_before_moto_pulumi_and_xgboost_load(tmp_path, mode):
    """In a process of its own: at the first write to stderr, none of the heavy modules is loaded."""
    script = (
        "import json, os, sys\n"
        "from runner import cli\n"
        "class FirstWrite:\n"
        "    def write(self, text):\n"
        "        heavy = sorted(m for m in ('moto', 'pulumi', 'pulumi_aws', 'xgboost', 'pandas') if m in sys.modules)\n"
        "        sys.__stdout__.write(json.dumps({'text': text, 'loaded': heavy}))\n"
        "        sys.__stdout__.flush()\n"
        "        os._exit(0)\n"
        "    def flush(self): pass\n"
        "    def isatty(self): return False\n"
        "sys.stderr = FirstWrite()\n"
        f"cli.main(['--local', '--rows', '100', '--runs-dir', {str(tmp_path)!r}] + {mode!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout)
    assert first == {"text": DEPLOYING, "loaded": []}


def _project_with(monkeypatch, tmp_path, config: str) -> None:
    """A project whose dev stack file holds `config`."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.dev.yaml").write_text(f"config:\n{config}")
    monkeypatch.setattr("components.settings.load_stack_settings.__defaults__", ("dev", project))


@pytest.mark.parametrize(
    "argv, stack_config, expected",
    [
        # Each of these was found only after the deployment before: they need the stack's outputs.
        (["--name", "xgb-other--run-1"], None, "run.py: error: execution name 'xgb-other--run-1' must start with"),
        (["--hp", "num_round=0"], None, "run.py: error: the execution would be refused: "),
        (["--hp", "sagemaker_program=x.py"], None, "run.py: error: the execution would be refused: "),
        (["--input", '{"rows": 0}'], None, "run.py: error: the execution would be refused: "),
        (
            ["--input", '{"data": {"uri": "s3://elsewhere/data.csv"}}'],
            None,
            "run.py: error: the execution would be refused: ",
        ),
        (["--data", "missing.csv"], None, "run.py: error: --data missing.csv: no such file"),
        (["--data", "{bad}"], None, "run.py: error: "),
        # The stack file's settings the rehearsal cannot run: they refused the deployment (exit 1) before.
        (
            [],
            "  training-pipeline:xgboostVersion: 1.5-1\n",
            "run.py: error: Pulumi.dev.yaml: training-pipeline:xgboostVersion: '1.5-1' is not one of 3.2-0, 3.0-5, 1.7-1 ",
        ),
        # The rules of the stack's image: 1.7-1's xgboost builds with exact by default, which has no
        # unlimited depth (3.x builds with hist: tests/lambda_functions/test_image_rules.py).
        (
            ["--hp", "max_depth=0"],
            "  training-pipeline:xgboostVersion: 1.7-1\n",
            "run.py: error: the execution would be refused: hyperparameters: Hyperparameter max_depth: 0 (no limit) needs "
            "tree_method approx or hist; tree_method auto builds with exact on xgboost 1.7.4",
        ),
        # and 3.2-0's (the dev stack's): its xgboost has no gpu_hist, which 1.7-1 and 3.0-5 take on GPU instances
        (
            ["--hp", "tree_method=gpu_hist"],
            None,
            "run.py: error: the execution would be refused: hyperparameters: Hyperparameter tree_method: gpu_hist is not "
            "in xgboost 3.2.0 (image 3.2-0), which fails it ('Invalid Input'): use hist",
        ),
        (
            [],
            "  training-pipeline:trainingInstanceCount: 17\n",
            "run.py: error: Pulumi.dev.yaml: trainingInstanceCount 17: the offline rehearsal runs one process",
        ),
    ],
    ids=[
        "name-prefix",
        "num_round",
        "script-mode",
        "rows",
        "data-outside",
        "data-missing",
        "data-bad",
        "xgboostVersion",
        "image-rules",
        "image-rules-default",
        "instance-count",
    ],
)
@pytest.mark.parametrize("mode", [["--no-progress"], ["--json"]], ids=["plain", "json"])
def test_a_refused_run_is_one_line_exit_2_with_nothing_deployed_or_written(
    monkeypatch, capsys, tmp_path, no_deployment, argv, stack_config, expected, mode
):
    runs = tmp_path / "runs"
    if "{bad}" in argv:  # a CSV the preparation's rules refuse: an infinite feature value
        (tmp_path / "bad.csv").write_text("label,x\n1,2\n0,inf\n")
        argv = ["--data", str(tmp_path / "bad.csv")]
    if stack_config:
        _project_with(monkeypatch, tmp_path, stack_config)
    code = cli.main(["--local", *mode, "--runs-dir", str(runs), *argv])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(expected), line
    assert not no_deployment and not runs.exists()


def test_a_name_already_used_is_refused_before_the_first_line(capsys, tmp_path, no_deployment):
    (tmp_path / f"{PREFIX}--same").mkdir()
    (tmp_path / f"{PREFIX}--same" / "summary.json").write_text("{}")
    code = cli.main(["--local", "--runs-dir", str(tmp_path), "--name", f"{PREFIX}--same"])
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and line.startswith(f"run.py: error: ExecutionAlreadyExists: an execution named {PREFIX}--same")
    assert not no_deployment and [p.name for p in tmp_path.iterdir()] == [f"{PREFIX}--same"]
    assert [p.name for p in (tmp_path / f"{PREFIX}--same").iterdir()] == ["summary.json"]


@pytest.mark.rehearsal  # deploys the dev stack
def test_the_outputs_run_py_checks_against_are_the_deployed_ones():
    settings = load_stack_settings("dev")
    expected = preflight.expected_outputs(settings)
    with local_stack(settings) as outputs:
        preflight.check_deployed(expected, outputs)  # raises naming the output that differs
        assert {key: outputs[key] for key in preflight.CHECKED_OUTPUTS} == expected
    with pytest.raises(preflight.UnexpectedOutputs, match="the deployed stack's bucketName is 'elsewhere'"):
        preflight.check_deployed(expected, {**expected, "bucketName": "elsewhere"})


@pytest.mark.rehearsal  # deploys the dev stack
def test_a_deployment_that_moved_a_checked_output_stops_the_run(monkeypatch, capsys, tmp_path):
    """Had the program renamed the bucket, the run was checked against the wrong one: it stops, exit 1."""
    monkeypatch.setattr(preflight, "BUCKET_RESOURCE", "renamed-data")
    code = cli.main(["--local", "--no-progress", "--rows", "100", "--runs-dir", str(tmp_path)])
    deploying, error = capsys.readouterr().err.splitlines()
    assert code == 1 and deploying == DEPLOYING
    assert error.startswith(
        "run.py: error: the program could not be deployed to the local emulator: the deployed "
        "stack's bucketName is 'training-pipeline-data-"
    )
    assert list(tmp_path.iterdir()) == []  # nothing started, the claimed folder given back
