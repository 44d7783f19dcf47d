"""Results of an ended execution: streamed parsing, scoring, the record, runs/<name>/ (no emulator)."""

import io
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from ended_run import ARN, NAME, WHERE, _run, _t, strict_json

from components import PROJECT_DIR
from runner import metrics, results
from runner.errors import UsageError
from runner.follow import ExecutionView, History, PlainDisplay, Polling, StateProgress, follow, job_status

# -- parsing ------------------------------------------------------------------------------------


def test_numbers_are_parsed_across_chunk_boundaries():
    text = b"".join(b"%d.25\n" % i for i in range(1000))
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]  # cut inside lines
    values = metrics.read_numbers(chunks, "x")
    assert np.array_equal(values, np.arange(1000) + 0.25)
    assert np.array_equal(metrics.read_numbers([b"1\n2"], "x"), [1.0, 2.0])  # no final newline


@pytest.mark.parametrize(
    "text, columns",
    [
        (b"0.1\n  \n", 1),
        (b'0.1\n"0.5"\n', 1),
        (b"0.1\n0.5 0.6\n", 1),
        (b"0.1\n\n", 1),
        (b"1,2\n3,4,5\n", 2),
        (b"1,2\n3,\n", 2),
        (b"1,2\n#3,4\n", 2),
    ],
)
def test_only_plain_numbers_are_read(text, columns):
    with pytest.raises(metrics.NotScorable, match=f"x line 2 is not {columns} number"):
        metrics.read_numbers([text], "x", columns=columns)


def test_numbers_are_read_exactly_as_python_reads_them():
    rng = np.random.default_rng(3)
    text = (
        "".join(f"{x:.9g}\n" for x in rng.random(20_000).astype(np.float32))  # the container's
        + "".join(f"{x:.17g}\n" for x in rng.standard_normal(20_000) * 1e5)
    )
    assert metrics.read_numbers([text.encode()], "x").tolist() == [float(line) for line in text.split()]


def test_words_are_not_numbers_even_where_pandas_would_read_them():
    with pytest.raises(metrics.NotScorable, match="x line 1 is not 1 number"):  # pandas: 1.0, 0.0
        metrics.read_numbers([b"true\nfalse\n"], "x")
    with pytest.raises(metrics.NotScorable, match="x line 1 is not 2 number"):
        metrics.read_numbers([b"0.1,TRUE\n0.2,FALSE\n"], "x", columns=2)


def test_a_bad_line_in_a_sample_is_named_by_its_own_number():
    text = b"".join(b"%d,%d\n" % (i, i) for i in range(30)).replace(b"\n9,9\n", b"\n9,x\n")
    with pytest.raises(metrics.NotScorable, match=r"t line 10 is not 2 number\(s\): '9,x'"):
        metrics.read_numbers([text[:25], text[25:]], "t", columns=2, every=3)


def test_what_python_reads_as_a_number_is_read():
    values = metrics.read_numbers([b"nan\n-inf\n 0.5\n1e-3\r\nInfinity\n-NaN\n"], "x")
    assert np.isnan(values[[0, 5]]).all() and values[1:5].tolist() == [-np.inf, 0.5, 0.001, np.inf]


@pytest.mark.parametrize(
    "text, columns",
    [
        (b"".join(b"%r\n" % (i / 7) for i in range(2000)), 1),
        (b"".join(b"%d,%r\n" % (i, i / 3) for i in range(2000)), 2),
        (b"nan\n-inf\n 0.5\n1e-3\r\nInfinity\n-NaN\n+.5\n1.\n", 1),
        (b"0.1\n\n0.3\n", 1),
        (b"0.1,0.2\n0.3\n", 2),
        (b"0.1,0.2,0.3\n0.4,0.5\n", 2),
        (b"1,\n2,3\n", 2),
        (b"0.1\n1e\n", 1),
        (b"0.1\n1e999\n", 1),
        (b",\n", 1),
        (b"1\n2\n" * 5, 1),
    ],
)
def test_small_objects_are_read_without_pandas_as_pandas_reads_them(monkeypatch, text, columns):
    """Below 1 MiB, an object is read without importing pandas (0.3-0.6 s of a run's start):
    the same numbers, or the same refusal, as pandas' reading of larger ones."""

    def read(pandas_pays):
        monkeypatch.setattr(metrics, "_pandas_pays", lambda block: pandas_pays)
        try:
            return repr(metrics.read_numbers([text[:9], text[9:]], "x", columns=columns).tolist())
        except metrics.NotScorable as refused:
            return str(refused)

    assert read(False) == read(True)


def test_scoring_a_small_object_does_not_import_pandas():
    script = (
        "import sys; from runner import metrics; "
        "metrics.read_numbers([b'0.5\\n' * 5000], 'p'); "
        "metrics.read_numbers([b'1,2\\n' * 5000], 't', columns=2); "
        "assert 'pandas' not in sys.modules, 'pandas was imported'"
    )
    subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, check=True)


def test_a_bad_line_is_named_by_number():
    with pytest.raises(metrics.NotScorable, match=r"the output line 3 is not 1 number\(s\): '0.2,0.8'"):
        metrics.read_numbers([b"0.1\n0.5\n", b"0.2,0.8\n0.3\n"], "the output")
    with pytest.raises(metrics.NotScorable, match="line 2 is not 1 number"):
        metrics.read_numbers([b"0.1\nabc\n"], "the output")
    with pytest.raises(metrics.NotScorable, match="has 2 lines, expected 3"):
        metrics.read_numbers([b"0.1\n0.5\n"], "the output", expected=3)
    with pytest.raises(metrics.NotScorable, match="has more than the 1 lines expected"):
        metrics.read_numbers([b"0.1\n0.5\n"], "the output", expected=1)


def test_two_column_rows_can_be_sampled_while_streaming():
    text = b"".join(b"%d,%d\n" % (i, 100 - i) for i in range(100))
    chunks = [text[i : i + 10] for i in range(0, len(text), 10)]
    kept = metrics.read_numbers(chunks, "t", columns=2, every=7)
    assert kept[:, 0].tolist() == list(range(0, 100, 7))
    assert kept[:, 1].tolist() == [100 - i for i in range(0, 100, 7)]


def test_binary_labels_must_be_zero_or_one_and_are_named_by_line():
    keep = metrics.label_reader(metrics.BINARY_LOGISTIC, "the labels")
    with pytest.raises(metrics.NotScorable, match=r"the labels line 12 holds 2.0, not 0 or 1$"):
        keep(10, np.array([0.0, 2.0]))
    assert keep(0, np.array([0.0, 1.0])).dtype == np.uint8


def test_auc_is_null_with_a_reason_when_one_class_only():
    scores, undefined = metrics.score(np.array([0], dtype=np.uint8), np.array([0.3]))
    assert scores["auc"] is None and "every held-out label is 0" in undefined["auc"]
    assert scores["accuracy"] == 1.0


def test_auc_matches_pairwise_counting_on_random_data():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500).astype(np.uint8)
    scores = np.round(rng.random(500), 2)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (pos.size * neg.size)
    assert metrics.roc_auc(labels, scores) == pytest.approx(brute)


def test_a_successful_run_is_saved_scored_and_described(tmp_path):
    s3, view = _run()
    run_dir = results.claim(tmp_path / "runs", NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=True)
    assert summary["results_error"] is None and summary["metrics_missing"] is None
    assert summary["metrics"]["accuracy"] == 1.0 and summary["metrics"]["auc"] == 1.0
    assert summary["seed"] == 7 and summary["rows"] == {"train": 2, "test": 4}
    assert summary["input"] == {"seed": 7}
    assert summary["hyperparameters"] == {"objective": "binary:logistic", "num_round": "5"}
    assert summary["training"]["billable_seconds"] == 55
    assert summary["training"]["final_metrics"] == {"train:rmse": 0.1}
    assert summary["training"]["image"] == "img:3.2-0"
    assert summary["imageVersion"] == summary["versions"]["xgboost_container"] == "3.2-0"
    assert summary["where"]["account"] == "111122223333"
    for key in ("artifacts_dir", "predictions", "model", "plot", "summary"):
        assert summary[key].startswith("/"), key  # absolute, wherever run.py was started
    files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    assert files == [
        "data/test/test.csv",
        "data/train/part-00000.csv",
        "labels.csv",
        "model.tar.gz",
        "plot.png",
        "predictions.csv",
        "summary.json",
    ]
    assert strict_json((run_dir / "summary.json").read_text()) == summary
    assert (run_dir / "predictions.csv").read_bytes() == b"0.9\n0.2\n0.7\n0.1\n"
    assert (run_dir / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [NAME]  # no scratch left


def test_a_run_refused_before_training_records_the_image_its_first_state_checked_it_against(tmp_path):
    """No training image to read the version from: the stack's, as the definition handed it to the
    validation function (runs compare sets runs of one image beside another's)."""
    validate = StateProgress(
        name="Validate input",
        entered=_t(0),
        exited=_t(1),
        status="failed",
        resource="arn:aws:lambda:us-west-2:111122223333:function:validate",
        parameters={
            "executionName": NAME,
            "input": {"hyperparameters": {"max_depth": 0}},
            "defaults": {"rows": 5, "training": {"image_version": "1.7-1"}},
        },
    )
    view = ExecutionView(
        arn=ARN,
        name=NAME,
        status="FAILED",
        started=_t(0),
        stopped=_t(2),
        states=[validate],
        output=None,
        input={"hyperparameters": {"max_depth": 0}},
    )
    summary = results.summary_of(view, WHERE)
    assert summary["imageVersion"] == "1.7-1" and summary["training"]["image"] is None
    assert (
        results.summary_of(
            ExecutionView(
                arn=ARN, name=NAME, status="FAILED", started=_t(0), stopped=_t(2), states=[], output=None, input={}
            ),
            WHERE,
        )["imageVersion"]
        is None
    )


def test_a_fetch_failing_while_the_plot_is_drawn_ends_the_drawing_and_leaves_no_scratch(tmp_path):
    """The plot is drawn while the model, cost record and IAM report are fetched: when one of
    those fails, the drawing process is ended before its scratch folder is removed."""
    from runner import plot

    s3, view = _run()
    del s3.objects[f"runs/{NAME}/model/{NAME}/output/model.tar.gz"]  # fetched after the plot started
    with plot.Painter() as painter:
        started = painter.start

        def start(*args, **kwargs):
            finish = started(*args, **kwargs)
            drawing.append(painter._drawing)
            return finish

        drawing = []
        painter.start = start
        summary = results.collect(
            s3, view, WHERE, results.claim(tmp_path / "runs", NAME, local=False), keep_data=False, painter=painter
        )
        assert summary["results_error"] and summary["plot"] is None
        [process] = drawing
        assert process.poll() is not None and process.stdin.closed  # ended by collect, not by the with-block
    assert list((tmp_path / "runs").iterdir()) == []  # neither the run's folder nor a scratch one


def test_artifacts_are_kept_when_the_predictions_cannot_be_scored(tmp_path):
    # The emulator's old comma-joined form of multi:softprob: AWS writes bracketed lists.
    s3, view = _run(
        predictions=b"0.1,0.9\n0.8,0.2\n0.3,0.7\n0.9,0.1\n",
        hyperparameters={"objective": "multi:softprob", "num_class": "2", "num_round": "5"},
    )
    run_dir = results.claim(tmp_path, NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=True)
    assert summary["results_error"] is None and summary["metrics"] is None
    assert summary["metrics_missing"] == (
        "cannot score: the batch transform output line 1 is not a bracketed list of numbers: '0.1,0.9' "
        "(objective multi:softprob, num_class 2)"
    )
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "data",
        "labels.csv",
        "model.tar.gz",
        "predictions.csv",
        "summary.json",
    ]
    assert (run_dir / "data" / "test" / "test.csv").read_bytes() == s3.objects[f"runs/{NAME}/csv/test/test.csv"]
    assert (run_dir / "predictions.csv").read_bytes() == s3.objects[f"runs/{NAME}/predictions/test.csv.out"]
    assert (run_dir / "labels.csv").read_bytes() == s3.objects[f"runs/{NAME}/csv/labels/test_labels.csv"]


def test_an_undefined_metric_is_null_in_strict_json(tmp_path):
    s3, view = _run(predictions=b"0.2\n0.1\n0.3\n0.4\n", labels=b"0\n0\n0\n0\n")
    summary = results.collect(s3, view, WHERE, results.claim(tmp_path, NAME, local=False), keep_data=False)
    text = (tmp_path / NAME / "summary.json").read_text()
    assert strict_json(text)["metrics"]["auc"] is None
    assert "AUC needs both classes" in summary["metrics_undefined"]["auc"]


def test_a_save_failure_still_returns_the_record_and_leaves_nothing(tmp_path, monkeypatch):
    s3, view = _run()
    run_dir = results.claim(tmp_path, NAME, local=False)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "_copy", disk_full)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=False)
    assert summary["results_error"] == f"cannot save {NAME} under {tmp_path}: No space left on device"
    assert summary["artifacts_dir"] is None and summary["status"] == "SUCCEEDED"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_keeps_its_record_with_what_was_generated(tmp_path):
    train_input = json.dumps(
        {
            "run": {"rows": 4, "seed": 9, "hyperparameters": {"num_round": "5"}},
            "dataset": {"rows": {"train": 4, "test": 4}, "seed": 9},
        }
    )
    states = [
        StateProgress(
            name="Train model (XGBoost)",
            entered=_t(1),
            exited=None,
            status="retrying",
            error="States.TaskFailed",
            cause='{"FailureReason": "boom"}',
            input=train_input,
        ),
        StateProgress(
            name="Pipeline failed",
            entered=_t(5),
            exited=_t(5),
            status="failed",
            input=json.dumps({"Error": "States.TaskFailed", "Cause": "boom"}),
        ),
    ]
    view = ExecutionView(
        arn=ARN,
        name=NAME,
        status="FAILED",
        started=_t(0),
        stopped=_t(5),
        states=states,
        error="States.TaskFailed",
        cause='{"FailureReason": "boom"}',
    )
    summary = results.collect(None, view, WHERE, results.claim(tmp_path, NAME, local=False), keep_data=False)
    assert summary["rows"] == {"train": 4, "test": 4} and summary["seed"] == 9
    assert summary["cause"] == "boom" and summary["failed_state"] == "Train model (XGBoost)"
    assert summary["metrics_missing"] == "the execution FAILED"
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["summary.json"]


# -- runs/<name>/ is claimed once ---------------------------------------------------------------


def test_a_run_folder_is_claimed_once_even_by_concurrent_runs(tmp_path):
    outcomes = []

    def attempt():
        try:
            results.claim(tmp_path, "xgb-dev--same", local=True)
            outcomes.append("claimed")
        except UsageError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("claimed") == 1
    assert all(
        o.startswith("ExecutionAlreadyExists: an execution named xgb-dev--same already ran")
        for o in outcomes
        if o != "claimed"
    )


def test_a_run_folder_that_cannot_be_made_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create .*file/xgb-dev-1/ \\(--runs-dir\\): Not a directory"):
        results.claim(tmp_path / "file", NAME, local=False)


# -- following ----------------------------------------------------------------------------------


class FakeSfn:
    """An execution whose history grows by the events given per poll; pages newest first."""

    def __init__(self, batches, page=3):
        self.batches, self.page, self.events, self.requests = list(batches), page, [], []

    def describe_execution(self, executionArn):
        if self.batches:
            self.events += self.batches.pop(0)
        status = "RUNNING" if self.batches else "SUCCEEDED"
        return {
            "name": NAME,
            "status": status,
            "startDate": _t(0),
            "input": "{}",
            **({"stopDate": _t(9), "output": "{}"} if status != "RUNNING" else {}),
        }

    def get_execution_history(self, executionArn, includeExecutionData, reverseOrder, maxResults, nextToken=None):
        self.requests.append(nextToken)
        newest_first = list(reversed(self.events))
        start = int(nextToken or 0)
        page = newest_first[start : start + self.page]
        more = start + self.page < len(newest_first)
        return {"events": page, **({"nextToken": str(start + self.page)} if more else {})}


def _event(number, kind, name=None, seconds=0):
    event = {"id": number, "type": kind, "timestamp": _t(seconds)}
    if name:
        event["stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"] = {"name": name}
    return event


def test_history_is_fetched_incrementally():
    first = [_event(i, "PassStateEntered" if i % 2 else "PassStateExited", f"s{(i + 1) // 2}", i) for i in range(1, 9)]
    sfn = FakeSfn([first])
    history = History(sfn, ARN)
    sfn.describe_execution(ARN)
    assert history.refresh() is True and sorted(history.events) == list(range(1, 9))
    calls = len(sfn.requests)
    assert calls == 3  # 8 events in pages of 3
    sfn.events.append(_event(9, "PassStateEntered", "s5", 9))
    assert history.refresh() is True and len(sfn.requests) == calls + 1  # one small page
    assert history.refresh() is False and len(sfn.requests) == calls + 2


def test_polls_slow_down_while_nothing_changes():
    sleeps = []
    sfn = FakeSfn([[_event(1, "PassStateEntered", "a", 0)]] + [[]] * 8)
    view = follow(sfn, None, ARN, PlainDisplay(io.StringIO()), Polling(0.1, 0.5, sleep=sleeps.append))
    assert view.status == "SUCCEEDED"
    assert sleeps[0] == 0.1 and sleeps[-1] == 0.5 and sleeps == sorted(sleeps)


def test_plain_progress_times_never_go_back_and_ended_jobs_are_not_shown_as_running():
    stream = io.StringIO()
    display = PlainDisplay(stream)
    state = StateProgress(name="Train", entered=_t(1))
    view = ExecutionView(arn=ARN, name=NAME, status="RUNNING", started=_t(0), stopped=None, states=[state])
    state.detail = "Training"
    display.update(view)  # seen now: long after the start
    state.exited, state.status, state.detail = _t(2), "succeeded", ""
    display.update(view)  # its event says 2 s after the start, before "now"
    times = [float(line.split("s]")[0].strip("[ ")) for line in stream.getvalue().splitlines()]
    assert times == sorted(times)

    class SageMaker:
        class exceptions:
            ClientError = Exception

        def describe_training_job(self, TrainingJobName):
            return {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}

    assert (
        job_status(
            SageMaker(), StateProgress(name="T", entered=_t(0), resource="createTrainingJob.sync", job_name=NAME)
        )
        == ""
    )


def test_ctrl_c_while_following_carries_the_last_view():
    from runner.follow import Interrupted

    def ctrl_c(seconds):
        raise KeyboardInterrupt

    sfn = FakeSfn([[_event(1, "TaskStateEntered", "Generate dataset", 0)], []])
    with pytest.raises(Interrupted) as interrupted:
        follow(sfn, None, ARN, PlainDisplay(io.StringIO()), Polling(0.1, 0.5, sleep=ctrl_c))
    assert [state.name for state in interrupted.value.view.states] == ["Generate dataset"]


def test_a_plot_that_cannot_be_drawn_leaves_the_rest_and_says_why(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    s3, view = _run()
    summary = results.collect(s3, view, WHERE, results.claim(tmp_path, NAME, local=False), keep_data=False)
    assert summary["results_error"] is None and summary["metrics"]["accuracy"] == 1.0
    assert summary["plot"] is None and summary["plot_missing"].startswith("cannot draw the plot:")
    assert not (tmp_path / NAME / "plot.png").exists()


def test_a_download_error_still_returns_the_record(tmp_path):
    from botocore.exceptions import ClientError

    s3, view = _run()

    def denied(Bucket, Key):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    s3.get_object = denied
    summary = results.collect(s3, view, WHERE, results.claim(tmp_path, NAME, local=False), keep_data=False)
    assert summary["results_error"].startswith(f"cannot fetch the results of {NAME}: An error occurred (AccessDenied)")
    assert summary["metrics"] is None and list(tmp_path.iterdir()) == []


def test_roc_and_calibration_points():
    from runner import plot

    labels = np.array([1, 0, 1, 0, 1], dtype=np.uint8)
    scores = np.array([0.9, 0.8, 0.8, 0.1, 0.05])
    fpr, tpr = plot.roc_curve(labels, scores)
    # thresholds 0.9, 0.8 (a tie of one positive and one negative), 0.1, 0.05
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert tpr.tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 2 / 3, 1.0])
    predicted, observed, counts = plot.calibration(labels, scores, bins=2)
    assert counts.tolist() == [2, 3] and observed.tolist() == pytest.approx([0.5, 2 / 3])
    assert predicted.tolist() == pytest.approx([0.075, 2.5 / 3])


def test_the_plot_is_drawn_even_for_a_single_row(tmp_path):
    from runner import plot

    path = plot.render(
        tmp_path / "plot.png",
        metrics.PROBABILITY,
        {"scores": np.array([0.2]), "labels": np.array([0], dtype=np.uint8), "points": np.array([[3.0, 40.0]])},
        title="one row",
        metrics={"accuracy": 1.0, "auc": None, "rmse": 0.2, "logloss": 0.2},
    )
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_a_painter_draws_what_render_draws_says_why_it_cannot_draw_and_raises_its_bugs(tmp_path):
    from runner import plot

    # Three processes started together: they load matplotlib side by side.
    with plot.Painter() as drawing, plot.Painter() as refusing, plot.Painter() as crashing:
        rng = np.random.default_rng(5)
        points = rng.integers(0, 101, (2000, 2)).astype(np.float64)
        labels = (points[:, 1] >= 3 * points[:, 0] + 5).astype(np.uint8)
        scores = np.clip(labels * 0.8 + rng.random(2000) * 0.2, 0, 1)
        scored = {"accuracy": 0.99, "auc": 0.98, "rmse": 0.1, "logloss": 0.1}
        arrays = {"scores": scores, "labels": labels, "points": points}
        painted = drawing.render(tmp_path / "painted.png", metrics.PROBABILITY, arrays, title="t", metrics=scored)
        assert drawing._process is None  # used up: a second render would draw here
        here = plot.render(tmp_path / "here.png", metrics.PROBABILITY, arrays, title="t", metrics=scored)
        assert painted.read_bytes() == here.read_bytes()

        one = {"scores": np.array([0.5]), "labels": np.array([1]), "points": np.array([[1.0, 2.0]])}
        process = refusing._process
        with pytest.raises(RuntimeError) as refused:  # what render raises here, with its message
            refusing.render(tmp_path / "plot.png", metrics.PROBABILITY, one, title=r"$\notasymbol$")
        assert "notasymbol" in str(refused.value) and not isinstance(refused.value, plot.PlotCrashed)
        assert process.returncode == 3 and process.stdin.closed and process.stderr.closed
        with pytest.raises(ValueError, match="notasymbol"):
            plot.render(tmp_path / "plot.png", metrics.PROBABILITY, one, title=r"$\notasymbol$")

        with pytest.raises(plot.PlotCrashed, match="IndexError"):  # points must be (x, y) rows
            crashing.render(tmp_path / "plot.png", metrics.PROBABILITY, {**one, "points": np.array([1.0])}, title="t")
        assert not (tmp_path / "plot.png").exists()


def test_a_painter_not_used_is_ended_and_ctrl_c_at_the_terminal_is_not_its_own():
    import os

    from runner import plot

    with plot.Painter() as painter:
        process = painter._process
        assert os.getsid(process.pid) == process.pid  # a session of its own: no terminal SIGINT
    assert process.poll() is not None and process.stdin.closed and process.stderr.closed


def test_a_drawing_started_and_never_waited_for_is_ended_with_the_painter(tmp_path):
    """run.py fetches the cost record and the IAM report while the plot is drawn: if that fails
    (or Ctrl-C comes), leaving the with-block still ends the drawing process."""
    from runner import plot

    arrays = {"scores": np.array([0.2, 0.9]), "labels": np.array([0, 1]), "points": np.array([[1.0, 2.0], [3.0, 4.0]])}
    with plot.Painter() as painter:
        finish = painter.start(tmp_path / "plot.png", metrics.PROBABILITY, arrays, title="t")
        process = painter._drawing
        assert callable(finish) and process is not None and painter._process is None
    assert process.poll() is not None and process.stdin.closed and process.stderr.closed


def test_the_results_page_describes_every_field_of_the_record():
    import re

    page = (PROJECT_DIR / "docs" / "results.md").read_text()
    table = page.split("`metrics_undefined`. Its fields:", 1)[1].strip().split("\n\n", 1)[0]
    documented = set()
    for row in table.splitlines()[2:]:
        documented |= set(re.findall(r"`([A-Za-z_]+)`", row.split("|")[1]))
    s3, view = _run()
    assert documented == set(results.summary_of(view, WHERE))


def test_plain_progress_prints_each_change_at_its_event_time():
    from runner.follow import states_from_history

    def details(kind, **values):
        key = {
            "TaskStateEntered": "stateEnteredEventDetails",
            "TaskStateExited": "stateExitedEventDetails",
            "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
            "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
        }[kind]
        return {key: values}

    events = [
        {"type": "TaskStateEntered", "timestamp": _t(1), **details("TaskStateEntered", name="Generate dataset")},
        {
            "type": "LambdaFunctionFailed",
            "timestamp": _t(3),
            **details("LambdaFunctionFailed", error="Lambda.ServiceException"),
        },
        {"type": "LambdaFunctionSucceeded", "timestamp": _t(7), **details("LambdaFunctionSucceeded", output="{}")},
        {"type": "TaskStateExited", "timestamp": _t(8), **details("TaskStateExited", name="Generate dataset")},
    ]
    stream = io.StringIO()
    display = PlainDisplay(stream)
    for seen in range(1, len(events) + 1):
        display.update(
            ExecutionView(
                arn=ARN,
                name=NAME,
                status="RUNNING",
                started=_t(0),
                stopped=None,
                states=states_from_history(events[:seen]),
            )
        )
    assert stream.getvalue().splitlines() == [
        "[    1.0s] Generate dataset: running",
        "[    3.0s] Generate dataset: retrying",
        "[    7.0s] Generate dataset: running",
        "[    8.0s] Generate dataset: succeeded",
    ]


# -- remote names stay inside runs/<name>/ (issue 25 finding 4) ---------------------------------


@pytest.mark.parametrize("name", ["../../../../tmp/x", "..", "/tmp/x", "a/b", "xgb-dev--a\n"])
def test_an_execution_name_from_the_endpoint_never_names_a_folder_outside_runs(tmp_path, name):
    runs = tmp_path / "inner" / "runs"
    with pytest.raises(UsageError, match="is not a valid execution name"):
        results.claim(runs, name, local=False, recover=True)
    assert not (tmp_path / "tmp").exists() and list(tmp_path.rglob("*")) in ([], [tmp_path / "inner"])


def test_a_planted_key_under_keep_data_is_skipped_never_written_outside(tmp_path):
    s3, view = _run()
    planted = f"runs/{NAME}/csv/train/../../../../../../escaped.csv"
    s3.objects[planted] = b"1,2,3\n"
    s3.objects[f"runs/{NAME}/csv/train//abs.csv"] = b"1,2,3\n"
    s3.objects[f"runs/{NAME}/csv/train/part-00000.csv/x"] = b"1,2,3\n"  # a file and a folder of one name
    s3.objects[f"runs/{NAME}/csv/train/{'n' * 300}"] = b"1,2,3\n"  # too long a name
    run_dir = results.claim(tmp_path / "runs", NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=True)
    assert summary["results_error"] is None  # the run is saved all the same
    assert summary["data_skipped"]["count"] == 4 and planted in summary["data_skipped"]["keys"]
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == [
        "labels.csv",
        "part-00000.csv",
        "predictions.csv",
        "test.csv",
    ]


def test_follow_takes_over_a_folder_left_empty_or_incomplete_never_a_saved_run(tmp_path):
    (tmp_path / NAME).mkdir()  # a run whose results were never saved (stdout closed, machine stopped)
    assert results.claim(tmp_path, NAME, local=False, recover=True) == tmp_path / NAME
    (tmp_path / NAME / "predictions.csv").write_text("0.1\n")  # cut short mid-way: moved aside, kept
    assert results.claim(tmp_path, NAME, local=False, recover=True) == tmp_path / NAME
    assert (tmp_path / f"{NAME}.incomplete" / "predictions.csv").read_text() == "0.1\n"
    (tmp_path / NAME / "summary.json").write_text("{}")  # a saved run: never overwritten
    with pytest.raises(UsageError, match="already exists and is never overwritten"):
        results.claim(tmp_path, NAME, local=False, recover=True)


# --- the transform output as SageMaker may assemble it (AssembleWith Line) ----------------------


@pytest.mark.parametrize(
    "predictions",
    [
        b"0.9\n0.2\n\n0.7\n0.1\n\n",  # a blank line after each mini-batch answer (here two of them)
        b"0.9\n\n0.2\n\n0.7\n\n0.1\n\n",  # mini-batches of one record
        b"0.9\n0.2\n0.7\n0.1\n",  # no blank line: SageMaker skips its newline after one
    ],
)
def test_blank_lines_of_the_assembly_are_dropped_and_the_predictions_counted(tmp_path, predictions):
    s3, view = _run(predictions=predictions)
    run_dir = results.claim(tmp_path / "runs", NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=False)
    assert summary["metrics_missing"] is None and summary["metrics"]["accuracy"] == 1.0
    assert (run_dir / "predictions.csv").read_bytes() == b"0.9\n0.2\n0.7\n0.1\n"  # line i: row i


@pytest.mark.parametrize(
    "predictions, problem",
    [
        (b"\n0.9\n0.2\n0.7\n0.1\n", "line 1 is not 1 number(s): ''"),  # nothing precedes it: not assembly
        (b"0.9\n0.2\n\n\n0.7\n0.1\n", "line 3 is not 1 number(s): ''"),  # one newline per answer, not two
        (b"0.9\n0.2\n\n0.7\n", "has 3 lines, expected 4"),  # the count is on the predictions
        (b"0.9\n0.2\n\n0.7\n0.1\n\n0.5\n", "has more than the 4 lines expected"),
    ],
)
def test_blank_lines_assembly_cannot_make_are_refused_and_the_count_stays_on_predictions(
    tmp_path, predictions, problem
):
    s3, view = _run(predictions=predictions)
    run_dir = results.claim(tmp_path / "runs", NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=False)
    assert summary["metrics"] is None and problem in summary["metrics_missing"], summary["metrics_missing"]
