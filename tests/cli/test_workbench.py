"""`run.py runs`: list, show and compare past runs, local and AWS alike, from runs/."""

import copy
import os
import json
import subprocess
import sys

import pytest

from runner import cli

from components.settings import PROJECT_DIR


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

    wine = copy.deepcopy(aws)  # an S3 data source on the 3.0-5 image, imageVersion recorded
    wine.update(execution_name="xgb-prod--20260103-120000-aaaaaa", started="2026-01-03T12:00:00+00:00",
                imageVersion="3.0-5", hyperparameters={**aws["hyperparameters"], "objective": "multi:softprob"},
                data={"kind": "s3", "uri": "s3://team-data/wine/wine.csv", "label": "cultivar"})
    wine["training"].update(image="246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.0-5",
                            final_metrics={"validation:mlogloss": 0.25, "train:mlogloss": 0.1},
                            model_file={"rounds": 9, "best_iteration": 8, "trees": 27, "format": "xgboost UBJSON"})
    wine["cost"] = {"total_usd": 0.0123}
    (runs / wine["execution_name"]).mkdir()
    (runs / wine["execution_name"] / "summary.json").write_text(json.dumps(wine))
    cancer = copy.deepcopy(local)  # a local file, the image known only from its URI
    cancer.update(execution_name="xgb-dev-7e1940--cancer", data={"kind": "file", "label": "diagnosis",
                  "uri": "s3://b/runs/xgb-dev-7e1940--cancer/upload/data.csv"})
    cancer["where"]["data_file"] = "/home/me/breast_cancer.csv"
    (runs / "xgb-dev-7e1940--cancer").mkdir()
    (runs / "xgb-dev-7e1940--cancer" / "summary.json").write_text(json.dumps(cancer))

    (runs / "xgb-dev-7e1940--interrupted").mkdir()
    (runs / "xgb-dev-7e1940--garbled").mkdir()
    (runs / "xgb-dev-7e1940--garbled" / "summary.json").write_text("{not json")
    return runs


def workbench(capsys, runs_dir, *argv):
    code = cli.main(["runs", "--runs-dir", str(runs_dir), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.rehearsal  # deploys the dev stack
def test_the_list_shows_every_folder_newest_first_with_where_status_rows_metrics_and_cost(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"7 run(s) in {runs_dir}/"
    body = {line.split()[0]: line for line in lines[2:]}
    assert "local (dev)" in body["xgb-dev-7e1940--local-1"] and "none (local)" in body["xgb-dev-7e1940--local-1"]
    assert " 600 " in body["xgb-dev-7e1940--local-1"]
    aws = body["xgb-prod--20260101-120000-abcdef"]
    assert "AWS eu-west-1 (prod)" in aws and "0.9100" in aws and "2 x ml.m5.2xlarge, 62 billable s" in aws
    assert "FAILED" in body["xgb-prod--20260102-120000-fedcba"] and "unknown" in body["xgb-prod--20260102-120000-fedcba"]
    assert "no summary.json" in body["xgb-dev-7e1940--interrupted"]
    assert "summary.json unreadable" in body["xgb-dev-7e1940--garbled"]
    # Runs told apart: data source, label, objective, image, rounds, SageMaker's validation metric.
    local = body["xgb-dev-7e1940--local-1"]
    assert " generated " in local and " label " in local and " reg:logistic " in local and " 1.7-1 " in local
    assert " 5 (best 4) " in local  # read from the local run's own model file
    wine = body["xgb-prod--20260103-120000-aaaaaa"]
    assert "s3://team-data/wine/wine.csv" in wine and " cultivar " in wine and " multi:softprob " in wine
    assert " 3.0-5 " in wine and " 9 (best 8) " in wine and "mlogloss 0.2500" in wine and "$0.0123" in wine
    assert " breast_cancer.csv " in body["xgb-dev-7e1940--cancer"] and " diagnosis " in body["xgb-dev-7e1940--cancer"]
    names = [line.split()[0] for line in lines[2:]]
    assert names.index("xgb-dev-7e1940--local-1") < names.index("xgb-prod--20260102-120000-fedcba") \
        < names.index("xgb-prod--20260101-120000-abcdef")

    code, out, _ = workbench(capsys, runs_dir, "--json")
    record = {run["name"]: run for run in json.loads(out)["runs"]}
    assert record["xgb-prod--20260101-120000-abcdef"]["metrics"]["auc"] == 0.91
    assert record["xgb-dev-7e1940--local-1"]["rows"] == 600
    assert record["xgb-prod--20260103-120000-aaaaaa"]["image_version"] == "3.0-5"
    assert record["xgb-dev-7e1940--local-1"]["rounds"] == 5


@pytest.mark.rehearsal  # deploys the dev stack
def test_show_prints_one_run_by_name_or_unique_prefix(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "show", "xgb-dev-7e1940--loc")
    assert code == 0, err
    assert out.startswith("xgb-dev-7e1940--local-1  SUCCEEDED  (local (dev))")
    assert "seed 5" in out and "stack dev (Pulumi.dev.yaml)" in out and "predictions.csv" in out

    code, out, _ = workbench(capsys, runs_dir, "show", "xgb-prod--20260102")
    assert "failed in Train model (XGBoost): SageMaker.AmazonSageMakerException: ResourceLimitExceeded" in out

    code, out, _ = workbench(capsys, runs_dir, "show", "aaaaaa")  # any unique part of the name
    assert out.startswith("xgb-prod--20260103-120000-aaaaaa") and "rounds 9 (best 8)" in out
    assert "validation (SageMaker's final metrics): validation:mlogloss 0.2500" in out

    code, _, err = workbench(capsys, runs_dir, "show", "xgb-prod")
    assert code == 2 and "is part of 3 run names: give more of the name" in err
    assert "\n  xgb-prod--20260101-120000-abcdef" in err and "\n  xgb-prod--20260102-120000-fedcba" in err
    code, _, err = workbench(capsys, runs_dir, "show", "nothing-like-it")
    assert code == 2 and err.strip() == (f"run.py: error: no run named 'nothing-like-it' or containing it in "
                                         f"{runs_dir}/ (run.py runs lists them)")


@pytest.mark.rehearsal  # deploys the dev stack
def test_compare_puts_settings_and_metrics_side_by_side_and_marks_what_differs(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "compare", "xgb-dev-7e1940--local-1", "xgb-prod--20260101")
    assert code == 0, err
    rows = {line[3:].split()[0] + " " + line[3:].split()[1] if line[3:].startswith(("hp ", "held-out "))
            else line[3:].split()[0]: line for line in out.splitlines()[1:]}
    assert rows["hp num_round"].startswith("*") and rows["hp num_round"].split()[-2:] == ["5", "50"]
    assert rows["hp objective"].startswith(" ")
    assert rows["held-out auc"].startswith("*") and rows["held-out auc"].endswith("0.9100")
    assert rows["data"].startswith(" ") and rows["objective"].startswith(" ") and rows["image"].startswith(" ")
    assert "started" not in rows and "seconds" not in rows  # always different: only when asked
    code, out, _ = workbench(capsys, runs_dir, "compare", "--with-times", "local-1", "xgb-prod--20260101")
    assert any(line.startswith("*  started") for line in out.splitlines())
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


# -- crafted summaries (issue 25 finding 10): never a traceback, a hang or raw control text --------

def _crafted(runs):
    def folder(name, text):
        (runs / name).mkdir()
        (runs / name / "summary.json").write_text(text)
    folder("xgb--deep", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    folder("xgb--nested", json.dumps({"training": {"model_file": {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}))
    folder("xgb--types", json.dumps({"started": 5, "where": "x", "training": "y", "metrics": [1], "status": 7,
                                     "hyperparameters": "z", "states": "no", "rows": 3, "data": {"kind": 5},
                                     "cost": {"total_usd": "1"}, "seconds": [], "metrics_undefined": [2]}))
    folder("xgb--nan", '{"status": "SUCCEEDED", "metrics": {"auc": NaN, "rmse": Infinity}, "seed": -Infinity}')
    folder("xgb--escapes", json.dumps({
        "status": "\x1b[2JSUCCEEDED", "started": "2026\x1b]0;pwned\x07", "where": {"local": False, "region": "\x1b[31m"},
        "data": {"kind": "s3", "uri": "s3://b/\x1b[8mhidden", "label": "\u202elabel"},
        "hyperparameters": {"objective": "\x9b31m", "eta\x1b": "0.1"}, "metrics": {"auc\x1b[5m": 0.5},
        "error": "\x1b[1mE", "cause": "line\rover", "failed_state": "\x1b[A"}))
    (runs / "xgb--fifo").mkdir()
    os.mkfifo(runs / "xgb--fifo" / "summary.json")
    (runs / "xgb--huge").mkdir()
    with open(runs / "xgb--huge" / "summary.json", "wb") as huge:
        huge.truncate(17 << 20)  # sparse: costs no disk
    (runs / "xgb--\x1b[31mname").mkdir()


def test_crafted_summaries_never_crash_hang_or_reach_the_terminal_raw(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _crafted(runs)
    names = sorted(path.name for path in runs.iterdir())
    commands = [[], ["--json"], ["compare", "xgb--types", "xgb--nan", "xgb--escapes", "xgb--nested"],
                ["--json", "compare", "xgb--types", "xgb--nan", "xgb--escapes"]]
    commands += [["show", name] for name in names] + [["--json", "show", name] for name in names]
    for argv in commands:
        # A subprocess with a timeout: a FIFO read would block forever.
        done = subprocess.run([sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--runs-dir", str(runs), *argv],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode in (0, 2), (argv, done.stderr)
        assert "Traceback" not in done.stderr, (argv, done.stderr)
        for stream in (done.stdout, done.stderr):
            assert not any(c in stream for c in "\x1b\x07\x9b\r\u202e"), (argv, stream)
        if "--json" in argv and done.returncode == 0:
            json.loads(done.stdout, parse_constant=lambda constant: pytest.fail(f"{constant} in {argv}"))
    listing = subprocess.run([sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--runs-dir", str(runs)],
                             capture_output=True, text=True, timeout=60).stdout
    body = {line.split()[0]: line for line in listing.splitlines()[2:]}
    assert "summary.json unreadable: not a regular file" in body["xgb--fifo"]
    assert "summary.json unreadable: larger than 16 MiB" in body["xgb--huge"]
    assert "unreadable" in body["xgb--deep"] and "nested deeper than 32 levels" in body["xgb--nested"]
    assert "\\x1b[2JSUCCEEDED" in body["xgb--escapes"] and "xgb--\\x1b[31mname" in body
