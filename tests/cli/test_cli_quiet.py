"""Quiet by default and the CLI's own conventions; --max-cost rehearsed (issue 27, items 9 and 10)."""

import json
import os
import subprocess
import sys

import pytest

from components import PROJECT_DIR
from runner import cli, cost
from runner.cli import stack


def _usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.rehearsal  # deploys the dev stack
def test_a_local_run_prints_one_cost_line_saying_nothing_is_billed(capsys, tmp_path):
    code = cli.main(["--local", "--no-progress", "--rows", "200", "--runs-dir", str(tmp_path)])
    err, out = capsys.readouterr()[::-1]
    assert code == 0
    lines = [line for line in (out + err).splitlines() if "cost" in line or "billed" in line]
    assert lines == ["  cost: none (the offline rehearsal runs on this machine: nothing is billed)"]


def test_version_names_the_commit(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    commit = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert capsys.readouterr().out.startswith(f"run.py (training-pipeline) {commit}")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--label", "y"], "run.py: error: --label only applies with --data"),
        (["--label", "y", "--split", "0.1,0.2"], "run.py: error: --label, --split only apply with --data"),
        (["--local", "runs"], "run.py: error: --local does not apply to runs (it reads past runs)"),
    ],
)
def test_messages_agree_with_the_flags_they_name(capsys, argv, expected):
    assert _usage_error(capsys, argv) == expected


def test_list_local_without_a_served_stack_says_what_to_start(capsys, monkeypatch):
    monkeypatch.setattr(stack, "served_stack", lambda stack: None)
    assert _usage_error(capsys, ["list", "--local"]) == (
        "run.py: error: list --local needs the local stack `run.py serve` keeps up (a --local run's emulator ends "
        "with the run): start run.py serve, then run.py list --local; past runs: run.py runs"
    )


def test_list_local_lists_the_served_stacks_executions(capsys, monkeypatch):
    from run_py_stubs import OUTPUTS, _sfn_stub

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(
        stack,
        "served_stack",
        lambda stack: {
            **OUTPUTS,
            "localEndpoint": "http://127.0.0.1:5999",
            "localEndpointCredentials": {"accessKeyId": "AKIATEST", "secretAccessKey": "s" * 40},
        },
    )
    clients, stub = _sfn_stub()
    stub.add_response("list_executions", {"executions": []})
    monkeypatch.setattr(stack, "Clients", lambda *where: clients)
    with stub:
        assert cli.main(["list", "--local"]) == 0
    assert capsys.readouterr().out.strip() == "no executions of pipeline-abc yet: start one with run.py"


def test_runs_list_is_the_runs_listing(capsys, tmp_path):
    assert cli.main(["runs", "list", "--runs-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"runs_dir": str(tmp_path), "runs": []}


def test_outside_its_virtualenv_run_py_says_so_in_one_line(tmp_path):
    """A Python without the project's packages (here: the venv's, with site-packages hidden)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    result = subprocess.run(
        [sys.executable, "-S", str(PROJECT_DIR / "run.py"), "--local"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("run.py: error: ") and "is not installed for" in line
    assert "run run.py with the project's virtualenv (venv/bin/python run.py" in line


@pytest.mark.rehearsal  # deploys the dev stack
def test_local_max_cost_refuses_what_aws_would_at_recorded_prices(capsys, tmp_path):
    code = cli.main(["--local", "--no-progress", "--rows", "200", "--max-cost", "0.01", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"worst case at {cost.RECORDED_PRICES_NOTE}: $" in err
    assert "run.py: error: --max-cost 0.01: this run can cost up to $" in err
    assert "AWS would refuse it too" in err and "\nstarted " not in err
    assert not any(tmp_path.iterdir())


def test_a_price_not_recorded_leaves_the_worst_case_unknown():
    limits = cost.RunLimits(
        region="us-west-2",
        training_instance_type="ml.p3.2xlarge",
        training_instance_count=1,
        training_seconds=3600,
        spot=False,
        transform_instance_type="ml.m5.xlarge",
        transform_instance_count=1,
    )
    worst = cost.worst_case(limits, cost.RecordedPrices())
    assert worst["usd"] is None
    assert worst["unknown"][0].startswith("no recorded price for SageMaker training on ml.p3.2xlarge in us-west-2")
    known = cost.worst_case(
        limits.__class__(**{**limits.__dict__, "training_instance_type": "ml.m5.xlarge"}), cost.RecordedPrices()
    )
    assert known["usd"] == pytest.approx(0.23 + 0.23 + known["parts"][3]["usd"], abs=1e-4)
