"""`run.py --local` end to end, for what a user relies on: the record, refusals, Ctrl-C, the documented snippets."""

import json
import re
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
from dev_stack import PREFIX

from components import PROJECT_DIR, lambda_functions
from runner import cli
from runner.cli import machine, watch
from runner.emulator import awslambda as lambda_runtime
from runner.emulator.image_environments import DEFAULT_IMAGE_VERSION, python_for


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def rehearse(capsys, runs_dir, *argv):
    code = cli.main(["--local", "--json", "--runs-dir", str(runs_dir), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_same_seed_gives_byte_identical_predictions_and_identical_metrics(capsys, tmp_path, shared_stack):
    runs = []
    for argv in (["--seed", "7"], ["--seed", "7"], ["--input", '{"seed": 8}']):
        code, out, err = rehearse(capsys, tmp_path, "--rows", "1000", *argv)
        assert code == 0, err
        runs.append(strict_json(out))
        assert f", seed {runs[-1]['seed']}" in err  # printed when the run starts
    first, second, other = runs
    assert first["seed"] == second["seed"] == 7 and first["input"]["seed"] == 7 and other["seed"] == 8
    assert first["execution_name"] != second["execution_name"]
    assert Path(first["predictions"]).read_bytes() == Path(second["predictions"]).read_bytes()
    assert first["metrics"] == second["metrics"]
    assert Path(other["predictions"]).read_bytes() != Path(first["predictions"]).read_bytes()


def test_summary_describes_the_run(capsys, tmp_path, monkeypatch, shared_stack):
    monkeypatch.chdir(tmp_path)  # paths in the record do not depend on where run.py started
    code, out, err = rehearse(
        capsys, "runs", "--rows", "500", "--hp", "num_round=3", "--input", '{"hyperparameters": {"max_depth": "4"}}'
    )
    assert code == 0, err
    assert len(out.splitlines()) == 1
    summary = strict_json(out)
    run_dir = tmp_path / "runs" / summary["execution_name"]
    assert strict_json((run_dir / "summary.json").read_text()) == summary
    assert summary["artifacts_dir"] == str(run_dir)
    for key in ("predictions", "model", "plot", "summary"):
        assert Path(summary[key]).is_absolute() and Path(summary[key]).is_file(), key
    assert summary["where"]["local"] is True and summary["where"]["region"] == "us-west-2"
    assert summary["input"]["rows"] == 500 and summary["input"]["hyperparameters"] == {
        "max_depth": "4",
        "num_round": "3",
    }
    assert isinstance(summary["seed"], int) and summary["input"]["seed"] == summary["seed"]  # drawn
    assert f", seed {summary['seed']}" in err
    assert summary["rows"] == {"train": 500, "validation": 50, "test": 500}
    assert summary["hyperparameters"]["num_round"] == "3" and summary["hyperparameters"]["max_depth"] == "4"
    assert summary["hyperparameters"]["objective"] == "reg:logistic"  # the stack default, merged
    training = summary["training"]
    assert training["image"].endswith("/sagemaker-xgboost:3.2-0")  # the default image
    assert training["instance_type"] == "ml.m5.xlarge" and training["instance_count"] == 1
    assert training["billable_seconds"] >= 1 and "train:rmse" in training["final_metrics"]
    assert summary["transform"]["instance_type"] == "ml.m5.xlarge"
    assert summary["imageVersion"] == summary["versions"]["xgboost_container"] == "3.2-0"
    assert summary["versions"]["xgboost_library"] == "3.2.0"  # the image environment's, not the venv's
    assert summary["started"] < summary["stopped"] and summary["seconds"] > 0
    states = {state["name"]: state for state in summary["states"]}
    assert states["Generate dataset"]["started"] <= states["Generate dataset"]["stopped"]
    assert (run_dir / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert f"plot: {run_dir / 'plot.png'}" not in out  # --json: the object only on stdout


def test_one_row_gives_strict_json_with_the_reason_auc_is_missing(capsys, tmp_path, shared_stack):
    code, out, err = rehearse(capsys, tmp_path, "--rows", "1")
    assert code == 0, err
    summary = strict_json(out)
    assert summary["metrics"]["auc"] is None
    assert "AUC needs both classes" in summary["metrics_undefined"]["auc"]
    assert strict_json(Path(summary["summary"]).read_text())["metrics"]["auc"] is None


def test_a_multiclass_objective_is_scored_from_the_containers_bracketed_lists(capsys, tmp_path, shared_stack):
    code, out, err = rehearse(
        capsys,
        tmp_path,
        "--rows",
        "300",
        "--hp",
        "objective=multi:softprob",
        "--hp",
        "num_class=2",
        "--hp",
        "eval_metric=mlogloss",
    )
    assert code == 0, err
    summary = strict_json(out)
    assert summary["metrics_missing"] is None and summary["metrics"]["accuracy"] > 0.9
    assert set(summary["metrics"]) == {"accuracy", "f1", "logloss"}
    assert sum(map(sum, summary["confusion_matrix"]["counts"])) == 300
    run_dir = Path(summary["artifacts_dir"])
    assert {"predictions.csv", "model.tar.gz", "labels.csv", "summary.json", "plot.png"} <= {
        p.name for p in run_dir.iterdir()
    }
    lines = (run_dir / "predictions.csv").read_text().splitlines()
    assert len(lines) == 300 and re.fullmatch(r"\[[0-9.e-]+, [0-9.e-]+\]", lines[0])


def test_a_duplicate_name_fails_like_execution_already_exists(capsys, tmp_path, shared_stack):
    code, first, err = rehearse(capsys, tmp_path, "--rows", "100", "--name", f"{PREFIX}--same")
    assert code == 0, err
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / f"{PREFIX}--same").iterdir()}
    code, out, err = rehearse(capsys, tmp_path, "--rows", "100", "--name", f"{PREFIX}--same")
    assert code == 2 and out == ""
    assert err.startswith(f"run.py: error: ExecutionAlreadyExists: an execution named {PREFIX}--same already ran")
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / f"{PREFIX}--same").iterdir()} == before


def test_a_runs_dir_that_cannot_be_made_is_refused_before_anything_starts(capsys):
    code, out, err = rehearse(capsys, "/dev/null/x", "--rows", "100")
    assert code == 2 and out == ""
    assert err.startswith("run.py: error: cannot create /dev/null/x/") and "Not a directory" in err
    assert "started" not in err


def test_ctrl_c_during_generate_dataset_cuts_the_seeding_function_short(capsys, tmp_path, monkeypatch):
    """The in-process seeding function stops at its next deadline check instead of running to its end."""
    seeding = threading.Event()
    outcomes = []
    invoke = lambda_runtime.LocalLambdaRuntime.invoke

    def watched_invoke(self, fn, body, headers, response_headers):
        if fn.handler == lambda_functions.VALIDATION_HANDLER:  # the first state's check, not the seeding
            return invoke(self, fn, body, headers, response_headers)
        seeding.set()
        payload = invoke(self, fn, body, headers, response_headers)
        outcomes.append(json.loads(payload))
        return payload

    def interrupted_follow(sfn, sagemaker, arn, display, polling):
        assert seeding.wait(30)
        raise KeyboardInterrupt

    monkeypatch.setattr(lambda_runtime.LocalLambdaRuntime, "invoke", watched_invoke)
    monkeypatch.setattr(watch, "follow", interrupted_follow)
    # More rows than this machine may hold (refused before it starts): the run is cut short long before.
    monkeypatch.setattr(machine, "check_machine_size", lambda rows: None)
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path), "--rows", "100000000"])
    err = capsys.readouterr().err
    assert code == 130
    assert "stopped xgb-" in err and "shutting the local emulator down" in err
    assert outcomes and outcomes[0]["errorType"] == "DeadlineExceeded"  # not 100 M rows written
    assert list(tmp_path.iterdir()) == []


def test_a_missing_stack_file_is_refused_in_one_line(capsys, tmp_path):
    code = cli.main(["--local", "--stack", "prod", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("run.py: error: Pulumi.prod.yaml: no such stack file")
    assert list(tmp_path.iterdir()) == []


def test_the_documented_snippet_loads_the_model(capsys, tmp_path, shared_stack):
    code, out, err = rehearse(capsys, tmp_path, "--rows", "300")
    assert code == 0, err
    run_dir = Path(strict_json(out)["artifacts_dir"])
    page = (PROJECT_DIR / "docs" / "results.md").read_text()
    snippet = re.search(r"<!-- load-model -->\s*```python\n(.*?)```", page, re.S).group(1)
    script = snippet.replace("runs/<name>", str(run_dir))
    result = subprocess.run(
        [str(python_for(DEFAULT_IMAGE_VERSION)), "-W", "error::UserWarning", "-c", script],  # the image's library
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no format warning
    with tarfile.open(run_dir / "model.tar.gz") as archive:
        assert archive.getnames() == ["xgboost-model"]
    assert len(result.stdout.split()) >= 1


@pytest.mark.parametrize("stream", ["performance page", "docstring"])
def test_one_row_capacity_is_quoted(stream):
    """The performance page and the seeding function's docstring quote the same capacity."""
    page = (PROJECT_DIR / "docs" / "performance.md").read_text()
    docstring = (PROJECT_DIR / "lambda_src" / "seed_dataset.py").read_text()
    figure = re.compile(r"about ([\d,]+) ?M rows")
    quoted = {name: set(figure.findall(text)) for name, text in (("performance page", page), ("docstring", docstring))}
    assert len(quoted[stream]) == 1, quoted
    assert quoted["performance page"] == quoted["docstring"]


def test_follow_saves_a_run_started_elsewhere(capsys, tmp_path, shared_stack):
    """`follow` on the emulator: incremental history, the record and artifacts saved at the end."""
    import boto3

    outputs = shared_stack
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    arn = sfn.start_execution(
        stateMachineArn=outputs["stateMachineArn"],
        name=f"{PREFIX}--followed",
        input=json.dumps({"rows": 400, "seed": 3}),
    )["executionArn"]
    # Followed once it has ended: while the seeding function runs, the emulator swaps boto3's
    # default session for the function role's, and clients made then would act as that role.
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(0.05)
    code = cli.main(
        [
            "follow",
            arn,
            "--json",
            "--outputs-file",
            str(tmp_path / "outputs.json"),
            "--runs-dir",
            str(tmp_path / "runs"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = strict_json(captured.out)
    assert summary["status"] == "SUCCEEDED" and summary["seed"] == 3 and summary["input"] == {"rows": 400, "seed": 3}
    assert summary["artifacts_dir"] == str(tmp_path / "runs" / f"{PREFIX}--followed")
    assert summary["metrics"]["accuracy"] > 0.9 and Path(summary["plot"]).is_file()
