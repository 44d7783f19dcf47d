"""`run.py runs`: list, show and compare past runs, local and AWS alike, from runs/."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner import cli

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A real local run's folder, an AWS-shaped run made from it, a failed one and two broken folders."""
    runs = tmp_path_factory.mktemp("runs")
    code = cli.main(["--local", "--json", "--rows", "600", "--seed", "5", "--name", "xgb-dev-7e1940--local-1",
                     "--runs-dir", str(runs)])
    assert code == 0
    local = json.loads((runs / "xgb-dev-7e1940--local-1" / "summary.json").read_text())

    aws = copy.deepcopy(local)
    aws.update(execution_name="xgb-prod--20260101-120000-abcdef", started="2026-01-01T12:00:00+00:00",
               hyperparameters={**local["hyperparameters"], "num_round": "50"},
               where={"local": False, "partition": "aws", "account": "111122223333", "region": "eu-west-1",
                      "stack": "prod", "stack_file": "Pulumi.prod.yaml",
                      "state_machine_arn": "arn:aws:states:eu-west-1:111122223333:stateMachine:m"})
    aws["training"].update(instance_type="ml.m5.2xlarge", instance_count=2, billable_seconds=62)
    aws["metrics"] = {**local["metrics"], "auc": 0.91}
    (runs / aws["execution_name"]).mkdir()
    (runs / aws["execution_name"] / "summary.json").write_text(json.dumps(aws))

    failed = copy.deepcopy(aws)
    failed.update(execution_name="xgb-prod--20260102-120000-fedcba", started="2026-01-02T12:00:00+00:00",
                  status="FAILED", metrics=None, failed_state="Train model (XGBoost)",
                  error="SageMaker.AmazonSageMakerException", cause="ResourceLimitExceeded")
    failed["training"]["billable_seconds"] = None
    (runs / failed["execution_name"]).mkdir()
    (runs / failed["execution_name"] / "summary.json").write_text(json.dumps(failed))

    (runs / "xgb-dev-7e1940--interrupted").mkdir()
    (runs / "xgb-dev-7e1940--garbled").mkdir()
    (runs / "xgb-dev-7e1940--garbled" / "summary.json").write_text("{not json")
    return runs


def workbench(capsys, runs_dir, *argv):
    code = cli.main(["runs", "--runs-dir", str(runs_dir), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_list_shows_every_folder_newest_first_with_where_status_rows_metrics_and_cost(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"5 run(s) in {runs_dir}/"
    body = {line.split()[0]: line for line in lines[2:]}
    assert "local (dev)" in body["xgb-dev-7e1940--local-1"] and "none (local)" in body["xgb-dev-7e1940--local-1"]
    assert " 600 " in body["xgb-dev-7e1940--local-1"]
    aws = body["xgb-prod--20260101-120000-abcdef"]
    assert "AWS eu-west-1 (prod)" in aws and "0.9100" in aws and "2 x ml.m5.2xlarge, 62 billable s" in aws
    assert "FAILED" in body["xgb-prod--20260102-120000-fedcba"] and "unknown" in body["xgb-prod--20260102-120000-fedcba"]
    assert "no summary.json" in body["xgb-dev-7e1940--interrupted"]
    assert "summary.json unreadable" in body["xgb-dev-7e1940--garbled"]
    names = [line.split()[0] for line in lines[2:]]
    assert names.index("xgb-dev-7e1940--local-1") < names.index("xgb-prod--20260102-120000-fedcba") \
        < names.index("xgb-prod--20260101-120000-abcdef")

    code, out, _ = workbench(capsys, runs_dir, "--json")
    record = {run["name"]: run for run in json.loads(out)["runs"]}
    assert record["xgb-prod--20260101-120000-abcdef"]["metrics"]["auc"] == 0.91
    assert record["xgb-dev-7e1940--local-1"]["rows"] == 600


def test_show_prints_one_run_by_name_or_unique_prefix(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "show", "xgb-dev-7e1940--loc")
    assert code == 0, err
    assert out.startswith("xgb-dev-7e1940--local-1  SUCCEEDED  (local (dev))")
    assert "seed 5" in out and "stack dev (Pulumi.dev.yaml)" in out and "predictions.csv" in out

    code, out, _ = workbench(capsys, runs_dir, "show", "xgb-prod--20260102")
    assert "failed in Train model (XGBoost): SageMaker.AmazonSageMakerException: ResourceLimitExceeded" in out

    code, _, err = workbench(capsys, runs_dir, "show", "xgb-prod")
    assert code == 2 and "names 2 runs" in err and "give more of the name" in err
    code, _, err = workbench(capsys, runs_dir, "show", "nothing-like-it")
    assert code == 2 and err.strip() == (f"run.py: error: no run named 'nothing-like-it' in {runs_dir}/ "
                                         "(run.py runs lists them)")


def test_compare_puts_settings_and_metrics_side_by_side_and_marks_what_differs(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "compare", "xgb-dev-7e1940--local-1", "xgb-prod--20260101")
    assert code == 0, err
    rows = {line[3:].split()[0] + " " + line[3:].split()[1] if line[3:].startswith(("hp ", "metric "))
            else line[3:].split()[0]: line for line in out.splitlines()[1:]}
    assert rows["hp num_round"].startswith("*") and rows["hp num_round"].split()[-2:] == ["5", "50"]
    assert rows["hp objective"].startswith(" ")
    assert rows["metric auc"].startswith("*") and rows["metric auc"].endswith("0.9100")
    assert rows["instance"].startswith("*") and "2 x ml.m5.2xlarge" in rows["instance"]
    code, out, _ = workbench(capsys, runs_dir, "--json", "compare", "xgb-dev-7e1940--local-1", "xgb-prod--20260101")
    assert json.loads(out)["rows"]["hp num_round"] == ["5", "50"]

    code, _, err = workbench(capsys, runs_dir, "compare", "xgb-dev-7e1940--local-1", "xgb-dev-7e1940--garbled")
    assert code == 2 and "summary.json unreadable" in err
    code, _, err = workbench(capsys, runs_dir, "compare", "xgb-dev-7e1940--local-1")
    assert code == 2 and "two or more runs" in err


def test_runs_is_found_in_the_project_directory_wherever_run_py_starts(tmp_path):
    script = ("import sys; sys.argv[1:] = ['--help']; from runner import cli; "
              "print(cli.RUNS_DIR)")
    shown = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert shown.stdout.strip() == str(PROJECT_DIR / "runs")
    # From elsewhere, without --runs-dir: the project's runs/, never the current directory's.
    listed = subprocess.run([sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--json"], cwd=tmp_path,
                            capture_output=True, text=True)
    if listed.returncode == 0:
        assert json.loads(listed.stdout)["runs_dir"] == str(PROJECT_DIR / "runs")
    else:
        assert f"{PROJECT_DIR / 'runs'}/ holds no runs yet" in listed.stderr
