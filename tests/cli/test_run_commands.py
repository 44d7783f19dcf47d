"""run.py's commands against stubbed AWS clients: Ctrl-C, names already used, list, help, outputs checks."""

import json
import os
import sys
from datetime import datetime

import pytest
from run_py_stubs import ARN, OUTPUTS, _sfn_stub, _StubbedClients, run

from components import PROJECT_DIR
from runner import cli
from runner.cli import stack, watch


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_with_detach_leaves_the_execution_running(outputs_file, monkeypatch, capsys, tmp_path):
    clients, stub = _sfn_stub()
    stub.add_response("start_execution", {"executionArn": ARN, "startDate": datetime(2026, 1, 1)})
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    monkeypatch.setattr(watch, "follow", _interrupt)
    with stub:  # a stop_execution call would be unexpected and fail
        code, _, err = run(
            ["--outputs-file", outputs_file, "--name", "xgb-dev--1", "--detach", "--runs-dir", str(tmp_path / "runs")],
            capsys,
        )
    assert code == 0
    assert f"run.py follow {ARN} --outputs-file {outputs_file} --runs-dir {tmp_path / 'runs'}" in err
    assert list((tmp_path / "runs").iterdir()) == []  # the claimed folder is given back for `follow`


def test_follow_detaches_on_ctrl_c_by_default_and_says_how_to_follow_again(outputs_file, monkeypatch, capsys):
    clients, stub = _sfn_stub()
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    monkeypatch.setattr(watch, "follow", _interrupt)
    with stub:  # no stop_execution: someone else's run goes on
        code, _, err = run(["follow", ARN, "--stack", "prod", "--outputs-file", outputs_file], capsys)
    assert code == 0
    hint = err.strip().splitlines()[-1].strip()
    assert hint.endswith(f"run.py follow {ARN} --stack prod --outputs-file {outputs_file}")
    assert hint.split()[0] in (sys.executable, os.path.relpath(sys.executable))


def test_follow_stop_stops_on_ctrl_c(outputs_file, monkeypatch, capsys):
    clients, stub = _sfn_stub()
    stub.add_response(
        "stop_execution",
        {"stopDate": datetime(2026, 1, 1)},
        {"executionArn": ARN, "error": "Interrupted", "cause": "stopped by run.py (Ctrl-C)"},
    )
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    monkeypatch.setattr(watch, "follow", _interrupt)
    with stub:
        code, _, err = run(["follow", ARN, "--stop", "--outputs-file", outputs_file], capsys)
    stub.assert_no_pending_responses()
    assert code == 130 and f"stopped {ARN.rsplit(':', 1)[-1]}" in err


def test_a_name_aws_already_used_is_one_line_exit_2(outputs_file, monkeypatch, capsys, tmp_path):
    clients, stub = _sfn_stub()
    stub.add_client_error("describe_state_machine", "AccessDeniedException", "not allowed", http_status_code=400)
    stub.add_client_error(
        "start_execution", "ExecutionAlreadyExists", f"Execution Already Exists: '{ARN}'", http_status_code=400
    )
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    with stub:
        code, out, err = run(
            ["--outputs-file", outputs_file, "--name", "xgb-dev--1", "--runs-dir", str(tmp_path / "runs")], capsys
        )
    assert code == 2 and out == ""
    worst, error = err.strip().splitlines()  # the worst case is printed before the start
    assert worst.startswith("worst case: unknown (cannot read the state machine's definition: ")
    assert error.startswith(f"run.py: error: Execution Already Exists: '{ARN}': that name was used before")
    assert list((tmp_path / "runs").iterdir()) == []


def test_an_existing_run_folder_is_never_overwritten(outputs_file, no_aws, capsys, tmp_path):
    (tmp_path / "runs" / "xgb-dev--1").mkdir(parents=True)
    (tmp_path / "runs" / "xgb-dev--1" / "summary.json").write_text("{}")
    code, _, err = run(
        ["--outputs-file", outputs_file, "--name", "xgb-dev--1", "--runs-dir", str(tmp_path / "runs")], capsys
    )
    assert code == 2 and "xgb-dev--1/ already exists and is never overwritten" in err
    assert (tmp_path / "runs" / "xgb-dev--1" / "summary.json").read_text() == "{}"


def test_list_says_so_when_there_are_no_executions(outputs_file, monkeypatch, capsys):
    clients, stub = _sfn_stub()
    stub.add_response("list_executions", {"executions": []})
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    with stub:
        code, out, _ = run(["list", "--outputs-file", outputs_file], capsys)
    assert code == 0 and out.strip() == "no executions of pipeline-abc yet: start one with run.py"


@pytest.mark.parametrize(
    "command, absent",
    [
        ("list", ["--runs-dir", "--no-progress", "--keep-data", "--stop"]),
        ("cleanup", ["--runs-dir", "--no-progress", "--keep-data", "--stop"]),
        ("stop", ["--runs-dir", "--no-progress", "--keep-data", "--max"]),
        ("follow", ["--name", "--rows", "--hp", "--seed", "--detach"]),
    ],
)
def test_subcommand_help_shows_only_options_that_work_there(command, absent, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    help_text = capsys.readouterr().out
    assert "--outputs-file" in help_text
    for option in absent:
        assert option not in help_text, option


def test_region_disagreeing_with_the_arns_is_named(tmp_path, no_aws, capsys):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**OUTPUTS, "region": "us-east-1"}))
    code, _, err = run(["list", "--outputs-file", str(path)], capsys)
    assert code == 2
    assert err.strip() == (
        f"run.py: error: {path}: region 'us-east-1' disagrees with stateMachineArn, "
        "which is in 'us-west-2': use the outputs of one stack, unedited"
    )


def test_follow_refuses_an_execution_of_another_state_machine(outputs_file, no_aws, capsys):
    other = "arn:aws:states:us-east-1:111122223333:execution:pipeline-abc:xgb-dev--1"
    code, _, err = run(["follow", other, "--outputs-file", outputs_file], capsys)
    assert code == 2 and "is not an execution of this stack's state machine pipeline-abc in us-west-2" in err


def test_make_clean_keeps_downloaded_runs():
    makefile = (PROJECT_DIR / "Makefile").read_text()
    clean = makefile.split("\nclean:", 1)[1].split("\n\n", 1)[0]
    assert "rm" in clean and "runs" not in clean


def test_ctrl_c_says_which_state_it_stopped(outputs_file, monkeypatch, capsys, tmp_path):
    from runner.follow import ExecutionView, Interrupted, StateProgress

    clients, stub = _sfn_stub()
    stub.add_response("start_execution", {"executionArn": ARN, "startDate": datetime(2026, 1, 1)})
    stub.add_response("stop_execution", {"stopDate": datetime(2026, 1, 1)})
    moment = datetime(2026, 1, 1)
    view = ExecutionView(
        arn=ARN,
        name="xgb-dev--1",
        status="RUNNING",
        started=moment,
        stopped=None,
        states=[
            StateProgress(name="Generate dataset", entered=moment, exited=moment, status="succeeded"),
            StateProgress(name="Train model (XGBoost)", entered=moment),
        ],
    )

    def interrupted(*args):
        raise Interrupted(view)

    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    monkeypatch.setattr(watch, "follow", interrupted)
    with stub:
        code, _, err = run(
            ["--outputs-file", outputs_file, "--name", "xgb-dev--1", "--runs-dir", str(tmp_path / "runs")], capsys
        )
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        f"stopped {ARN.rsplit(':', 1)[-1]} in state 'Train model (XGBoost)'; "
        "its SageMaker training job is stopped too (billed until it has stopped)"
    )


def test_follow_of_a_run_already_saved_prints_the_record_and_says_why_nothing_was_saved(
    outputs_file, monkeypatch, capsys, tmp_path
):
    from runner.follow import ExecutionView

    (tmp_path / "runs" / "xgb-dev--1").mkdir(parents=True)
    (tmp_path / "runs" / "xgb-dev--1" / "summary.json").write_text("{}")  # saved: never overwritten
    moment = datetime(2026, 1, 1)
    view = ExecutionView(
        arn=ARN,
        name="xgb-dev--1",
        status="FAILED",
        started=moment,
        stopped=moment,
        states=[],
        error="States.TaskFailed",
        cause="boom",
    )
    monkeypatch.setattr(stack, "Clients", lambda region: _StubbedClients())
    monkeypatch.setattr(watch, "follow", lambda *args: view)
    code, out, err = run(
        ["follow", ARN, "--json", "--outputs-file", outputs_file, "--runs-dir", str(tmp_path / "runs")], capsys
    )
    assert code == 1
    summary = json.loads(out)
    assert summary["status"] == "FAILED" and "where" in summary and "not_saved" not in summary["where"]
    assert "xgb-dev--1/ already exists and is never overwritten" in summary["results_error"]
    assert [p.name for p in (tmp_path / "runs" / "xgb-dev--1").iterdir()] == ["summary.json"]


def test_follow_of_a_run_whose_folder_was_left_empty_saves_it(outputs_file, monkeypatch, capsys, tmp_path):
    """`run.py --local ... | head` on older versions, or a machine stopped mid-fetch, left the folder empty."""
    from runner.follow import ExecutionView

    (tmp_path / "runs" / "xgb-dev--1").mkdir(parents=True)
    moment = datetime(2026, 1, 1)
    view = ExecutionView(
        arn=ARN,
        name="xgb-dev--1",
        status="FAILED",
        started=moment,
        stopped=moment,
        states=[],
        error="States.TaskFailed",
        cause="boom",
    )
    monkeypatch.setattr(stack, "Clients", lambda region: _StubbedClients())
    monkeypatch.setattr(watch, "follow", lambda *args: view)
    code, out, err = run(
        ["follow", ARN, "--json", "--outputs-file", outputs_file, "--runs-dir", str(tmp_path / "runs")], capsys
    )
    assert code == 1 and json.loads(out)["results_error"] is None
    assert json.loads((tmp_path / "runs" / "xgb-dev--1" / "summary.json").read_text())["status"] == "FAILED"


def test_follow_refuses_an_execution_name_that_would_leave_runs(outputs_file, monkeypatch, capsys, tmp_path):
    from runner.follow import ExecutionView

    moment = datetime(2026, 1, 1)
    view = ExecutionView(
        arn=ARN,
        name="../../../../escaped",
        status="FAILED",
        started=moment,
        stopped=moment,
        states=[],
        error="E",
        cause="\x1b]0;title\x07",
    )
    monkeypatch.setattr(stack, "Clients", lambda region: _StubbedClients())
    monkeypatch.setattr(watch, "follow", lambda *args: view)
    code, out, err = run(
        ["follow", ARN, "--outputs-file", outputs_file, "--runs-dir", str(tmp_path / "a" / "b" / "runs")], capsys
    )
    assert code == 1 and "is not a valid execution name" in err
    assert not (tmp_path / "escaped").exists() and not list((tmp_path / "a").rglob("*.json"))
    assert "\x1b" not in out + err and "\\x1b]0;title\\x07" in out  # the cause shown escaped
