"""Scoring by objective: the container's output bytes, the metrics against scikit-learn's (the
reference), what cannot be scored, and the record (no emulator)."""

import json

import numpy as np
import pytest
from ended_run import NAME, WHERE, _run, strict_json
from sklearn import metrics as reference

from components.settings import PROJECT_DIR
from runner import metrics, results

ROWS = 3000


def _read(objective, labels_text: bytes, predictions_text: bytes):
    """Both objects through read_numbers as run.py reads them, cut into chunks inside lines."""
    labels = metrics.read_numbers(
        [labels_text[:1001], labels_text[1001:]],
        "the labels",
        expected=None,
        keep=metrics.label_reader(objective, "the labels"),
    )
    columns = objective.classes if objective.bracketed else 1
    predictions = metrics.read_numbers(
        [predictions_text[i : i + 4099] for i in range(0, len(predictions_text), 4099)],
        "the output",
        columns=columns,
        bracketed=objective.bracketed,
        expected=labels.size,
        keep=metrics.prediction_reader(objective, labels, "the output"),
    )
    return labels, predictions


def _container_lines(values) -> bytes:
    """What the 1.7-1 container's serve.py writes: "\\n".join(map(str, preds.tolist())) + "\\n"."""
    return ("\n".join(map(str, np.asarray(values, dtype=np.float32).tolist())) + "\n").encode()


def _labels_text(labels) -> bytes:
    return "".join(f"{label}\n" for label in labels).encode()


def test_binary_probabilities_match_scikit_learn():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, ROWS)
    probability = np.round(rng.random(ROWS), 2).astype(np.float32)  # ties, and some exactly 0.5
    objective = metrics.objective_of({"objective": "binary:logistic"})
    labels, predictions = _read(objective, _labels_text(truth), _container_lines(probability))
    scores, undefined = metrics.score(labels, predictions, objective)
    p = probability.astype(np.float64)
    assert undefined == {} and list(scores) == ["accuracy", "auc", "logloss", "rmse", "precision", "recall", "f1"]
    assert scores == pytest.approx(
        {
            "accuracy": reference.accuracy_score(truth, p > 0.5),
            "auc": reference.roc_auc_score(truth, p),
            "logloss": reference.log_loss(truth, p),
            "rmse": reference.root_mean_squared_error(truth, p),
            "precision": reference.precision_score(truth, p > 0.5),
            "recall": reference.recall_score(truth, p > 0.5),
            "f1": reference.f1_score(truth, p > 0.5),
        },
        rel=1e-12,
    )


def test_logitraw_margins_are_scored_as_margins_never_clipped():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 2, ROWS)
    margin = (truth * 1.5 - 0.8 + rng.standard_normal(ROWS)).astype(np.float32)  # about -4 to 4
    objective = metrics.objective_of({"objective": "binary:logitraw"})
    labels, predictions = _read(objective, _labels_text(truth), _container_lines(margin))
    scores, _ = metrics.score(labels, predictions, objective)
    assert scores == pytest.approx(
        {"accuracy": reference.accuracy_score(truth, margin > 0), "auc": reference.roc_auc_score(truth, margin)},
        rel=1e-12,
    )


def test_hinge_classes_get_accuracy_and_f1():
    truth = np.array([0, 1, 1, 0, 1, 0])
    predicted = np.array([0, 1, 0, 0, 1, 1])
    objective = metrics.objective_of({"objective": "binary:hinge"})
    labels, predictions = _read(objective, _labels_text(truth), _container_lines(predicted))
    assert metrics.score(labels, predictions, objective)[0] == pytest.approx(
        {"accuracy": reference.accuracy_score(truth, predicted), "f1": reference.f1_score(truth, predicted)}
    )
    with pytest.raises(metrics.NotScorable, match=r"the output line 2 holds 0.7, not 0 or 1$"):
        _read(objective, b"0\n1\n", b"1.0\n0.7\n")


def test_softprob_is_read_from_the_containers_bracketed_lists_and_matches_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, ROWS)
    truth[:4] = [0, 1, 2, 3]
    probabilities = rng.dirichlet([1, 1, 1, 1], ROWS).astype(np.float32)
    text = ("\n".join(map(str, probabilities.tolist())) + "\n").encode()
    assert text.startswith(b"[0.") and b", " in text.split(b"\n")[0]  # '[0.8125370144844055, 0.18...]'
    objective = metrics.objective_of({"objective": "multi:softprob", "num_class": "4"})
    labels, predictions = _read(objective, _labels_text(truth), text)
    assert predictions.shape == (ROWS, 2)  # reduced while streaming: predicted class, p(true class)
    scores, _ = metrics.score(labels, predictions, objective)
    p = probabilities.astype(np.float64)
    assert scores == pytest.approx(
        {
            "accuracy": reference.accuracy_score(truth, p.argmax(axis=1)),
            "f1": reference.f1_score(truth, p.argmax(axis=1), average="macro"),
            "logloss": reference.log_loss(truth, p / p.sum(axis=1, keepdims=True)),
        },
        rel=1e-6,
    )
    assert (
        metrics.confusion_matrix(labels, predictions[:, 0], 4).tolist()
        == reference.confusion_matrix(truth, p.argmax(axis=1)).tolist()
    )


def test_the_aws_softprob_line_of_the_issue():
    objective = metrics.objective_of({"objective": "multi:softprob", "num_class": "2"})
    labels, predictions = _read(objective, b"0\n", b"[0.8125370144844055, 0.1874629259109497]\n")
    assert predictions.tolist() == [[0.0, 0.8125370144844055]]


def test_softmax_classes_and_a_macro_f1_over_the_classes_that_occur():
    truth = np.array([0, 1, 2, 2, 1, 0, 2])
    predicted = np.array([0, 2, 2, 2, 1, 0, 0])
    objective = metrics.objective_of({"objective": "multi:softmax", "num_class": "5"})  # 3 and 4 never occur
    labels, predictions = _read(objective, _labels_text(truth), _container_lines(predicted))
    assert _container_lines(predicted).startswith(b"0.0\n2.0\n")
    scores, _ = metrics.score(labels, predictions, objective)
    assert scores == pytest.approx(
        {
            "accuracy": reference.accuracy_score(truth, predicted),
            "f1": reference.f1_score(truth, predicted, average="macro"),
        }
    )


def test_regression_matches_scikit_learn_and_a_constant_label_has_no_r2():
    rng = np.random.default_rng(4)
    truth = np.round(rng.gamma(2.0, 3.0, ROWS), 3)
    predicted = (truth + rng.standard_normal(ROWS)).astype(np.float32)
    objective = metrics.objective_of({"objective": "count:poisson"})
    labels, predictions = _read(objective, _labels_text(truth), _container_lines(predicted))
    scores, undefined = metrics.score(labels, predictions, objective)
    p = predicted.astype(np.float64)
    assert undefined == {} and scores == pytest.approx(
        {
            "rmse": reference.root_mean_squared_error(truth, p),
            "mae": reference.mean_absolute_error(truth, p),
            "r2": reference.r2_score(truth, p),
        },
        rel=1e-9,
    )
    scores, undefined = metrics.score(np.array([2.0, 2.0]), np.array([1.0, 3.0]), objective)
    assert scores == {"rmse": 1.0, "mae": 1.0, "r2": None} and "R² needs labels that vary" in undefined["r2"]


def test_a_metric_that_overflows_is_null_with_the_reason():
    objective = metrics.objective_of({})  # reg:squarederror, the container's default
    scores, undefined = metrics.score(np.array([0.0, 1.0]), np.array([1e300, -1e300]), objective)
    assert scores["rmse"] is None and scores["mae"] == 1e300 and "not finite" in undefined["rmse"]


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"objective": "rank:pairwise"}, "objective rank:pairwise is not scored"),
        ({"objective": "survival:cox"}, "objective survival:cox is not scored"),
        ({"objective": "multi:softprob"}, "objective multi:softprob needs num_class, a whole number from 2"),
        ({"objective": "multi:softmax", "num_class": "x"}, "got x"),
    ],
)
def test_objectives_without_a_scoring_say_so(hyperparameters, message):
    with pytest.raises(metrics.NotScorable, match=message):
        metrics.objective_of(hyperparameters)


@pytest.mark.parametrize(
    "objective, labels, predictions, message",
    [
        (
            {"objective": "multi:softprob", "num_class": "3"},
            b"0\n1\n",
            b"[0.2, 0.8]\n[0.5, 0.5]\n",
            r"the output line 1 is not a list of 3 numbers: '\[0.2, 0.8\]'",
        ),
        (
            {"objective": "multi:softprob", "num_class": "2"},
            b"0\n1\n",
            b"[0.2, 0.8]\n0.5,0.5\n",
            r"the output line 2 is not a bracketed list of numbers: '0.5,0.5'",
        ),
        (
            {"objective": "multi:softprob", "num_class": "2"},
            b"0\n1\n",
            b"[0.2, 0.8]\n[[0.5, 0.5]]\n",
            r"line 2 is not a bracketed list",
        ),
        (
            {"objective": "multi:softprob", "num_class": "2"},
            b"0\n2\n",
            b"[0.2, 0.8]\n[0.5, 0.5]\n",
            r"the labels line 2 holds 2.0, not a class 0..1$",
        ),
        (
            {"objective": "multi:softprob", "num_class": "2"},
            b"0\n1\n",
            b"[0.2, 0.8]\n[0. 5, 0.5]\n",
            r"the output line 2 is not a list of 2 numbers: '\[0. 5, 0.5\]'",
        ),
        (
            {"objective": "multi:softmax", "num_class": "2"},
            b"0\n1\n",
            b"0.0\n1.5\n",
            r"the output line 2 holds 1.5, not a class 0..1",
        ),
        ({"objective": "binary:logistic"}, b"0\n1\n", b"0.2\n[0.1, 0.9]\n", r"the output line 2 is not 1 number"),
        ({"objective": "binary:logistic"}, b"0\n1\n", b"0.2\n2.4\n", r"line 2 holds 2.4, not a probability"),
        ({"objective": "binary:logitraw"}, b"0\n1\n", b"0.2\nnan\n", r"line 2 holds nan, not a finite number"),
        ({"objective": "reg:squarederror"}, b"0.5\ninf\n", b"0.2\n0.1\n", r"the labels line 2 holds inf"),
        ({"objective": "binary:logistic"}, b"0\nnan\n", b"0.2\n0.1\n", r"the labels line 2 holds nan, not 0 or 1$"),
        (
            {"objective": "multi:softprob", "num_class": "2"},
            b"0\n",
            b"[0.2, 0.8]\n[0.5, 0.5]\n",
            r"the output has more than the 1 lines expected",
        ),
        ({"objective": "binary:logistic"}, b"0\n1\n1\n", b"0.2\n0.5\n", r"the output has 2 lines, expected 3"),
    ],
)
def test_a_mismatch_of_predictions_labels_and_objective_is_named(objective, labels, predictions, message):
    with pytest.raises(metrics.NotScorable, match=message):
        _read(metrics.objective_of(objective), labels, predictions)


# -- the record -----------------------------------------------------------------------------------


def _collect(tmp_path, **run):
    s3, view = _run(**run)
    run_dir = results.claim(tmp_path, NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=False)
    assert summary["results_error"] is None
    assert strict_json((run_dir / "summary.json").read_text()) == summary
    return summary, run_dir


def test_logitraw_margins_are_recorded_without_probability_metrics(tmp_path):
    summary, run_dir = _collect(
        tmp_path,
        predictions=b"2.4\n-2.0\n0.3\n-0.1\n",
        hyperparameters={"objective": "binary:logitraw", "num_round": "5"},
    )
    assert summary["metrics"] == {"accuracy": 1.0, "auc": 1.0} and summary["metrics_missing"] is None
    assert summary["scored_as"] == {"objective": "binary:logitraw", "kind": "binary margin"}
    assert (run_dir / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_multiclass_with_named_classes_records_the_names_and_the_confusion_matrix(tmp_path):
    source = {
        "kind": "file",
        "uri": None,
        "label": "species",
        "features": ["a", "b", "c"],
        "classes": ["setosa", "versicolor", "virginica"],
    }
    summary, run_dir = _collect(
        tmp_path,
        labels=b"0\n1\n2\n2\n",
        source=source,
        test=b"1,2,3\n4,5,6\n7,8,9\n1,1,1\n",  # not (x, y)
        predictions=b"[0.8, 0.1, 0.1]\n[0.2, 0.7, 0.1]\n[0.1, 0.1, 0.8]\n[0.1, 0.6, 0.3]\n",
        hyperparameters={"objective": "multi:softprob", "num_class": "3", "num_round": "5"},
    )
    assert summary["metrics"]["accuracy"] == 0.75 and summary["metrics_missing"] is None
    assert summary["classes"] == ["setosa", "versicolor", "virginica"]
    assert summary["confusion_matrix"] == {
        "classes": ["setosa", "versicolor", "virginica"],
        "counts": [[1, 0, 0], [0, 1, 0], [0, 1, 1]],
        "rows": "true class",
        "columns": "predicted class",
    }
    assert summary["plot"] and summary["plot_missing"] is None


def test_class_names_fewer_than_num_class_are_recorded_as_given(tmp_path):
    source = {"kind": "file", "uri": None, "label": "y", "features": ["a"], "classes": ["no", "yes"]}
    summary, _ = _collect(
        tmp_path,
        labels=b"0\n1\n2\n1\n",
        source=source,
        test=b"1\n2\n3\n4\n",
        predictions=b"0.0\n1.0\n2.0\n1.0\n",
        hyperparameters={"objective": "multi:softmax", "num_class": "3", "num_round": "5"},
    )
    assert summary["classes"] == ["no", "yes"]
    assert summary["confusion_matrix"]["classes"] == ["no", "yes", "2"]


def test_regression_is_scored_and_drawn(tmp_path):
    summary, run_dir = _collect(
        tmp_path, labels=b"1.5\n0\n3.25\n2\n", predictions=b"1.25\n0.5\n3.0\n2.5\n", hyperparameters={"num_round": "5"}
    )  # reg:squarederror by default
    assert summary["scored_as"] == {"objective": "reg:squarederror", "kind": "regression"}
    assert summary["metrics"] == pytest.approx(
        {
            "rmse": reference.root_mean_squared_error([1.5, 0, 3.25, 2], [1.25, 0.5, 3, 2.5]),
            "mae": 0.375,
            "r2": reference.r2_score([1.5, 0, 3.25, 2], [1.25, 0.5, 3, 2.5]),
        }
    )
    assert (run_dir / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_a_ranking_objective_keeps_the_files_and_says_why_there_are_no_metrics(tmp_path):
    summary, run_dir = _collect(tmp_path, hyperparameters={"objective": "rank:pairwise", "num_round": "5"})
    assert summary["metrics"] is None and summary["metrics_missing"].startswith(
        "cannot score: objective rank:pairwise is not scored"
    )
    assert (run_dir / "predictions.csv").read_bytes() == b"0.9\n0.2\n0.7\n0.1\n"
    assert (run_dir / "labels.csv").read_bytes() == b"1\n0\n1\n0\n"


def test_a_label_outside_the_classes_keeps_the_files_and_says_why(tmp_path):
    summary, run_dir = _collect(
        tmp_path,
        labels=b"0\n1\n3\n1\n",
        predictions=b"[0.9, 0.1]\n[0.2, 0.8]\n[0.6, 0.4]\n[0.3, 0.7]\n",
        hyperparameters={"objective": "multi:softprob", "num_class": "2", "num_round": "5"},
    )
    assert summary["metrics_missing"] == (
        "cannot score: the labels object line 3 holds 3.0, not a class 0..1 (objective multi:softprob, num_class 2)"
    )
    assert (run_dir / "predictions.csv").read_bytes().startswith(b"[0.9, 0.1]\n")
    assert (run_dir / "labels.csv").read_bytes() == b"0\n1\n3\n1\n"


def test_non_finite_numbers_never_break_the_record(tmp_path):
    s3, view = _run(
        final_metrics=[
            {"MetricName": "validation:mape", "Value": float("inf")},
            {"MetricName": "validation:auc", "Value": float("nan")},
            {"MetricName": "train:rmse", "Value": 0.25},
        ]
    )
    view.input = {"seed": 7, "note": float("nan"), "nested": [float("-inf"), 1.0]}
    run_dir = results.claim(tmp_path, NAME, local=False)
    summary = results.collect(s3, view, WHERE, run_dir, keep_data=False)
    assert summary["training"]["final_metrics"] == {"train:rmse": 0.25}  # as SageMaker's list would be
    assert summary["input"] == {"seed": 7, "note": None, "nested": [None, 1.0]}
    assert strict_json((run_dir / "summary.json").read_text()) == summary
    json.dumps(summary, allow_nan=False)  # what --json prints


def test_many_classes_are_scored_in_memory_of_the_class_count_without_a_confusion_matrix(tmp_path):
    source = {"kind": "s3", "uri": "s3://data/x.csv", "label": "y", "features": ["a", "b"], "classes": None}
    summary, run_dir = _collect(
        tmp_path,
        labels=b"0\n1\n5000\n7\n",
        predictions=b"0.0\n1.0\n5000.0\n6.0\n",
        source=source,
        test=b"1,2\n3,4\n5,6\n7,8\n",
        hyperparameters={"objective": "multi:softmax", "num_class": "60000", "num_round": "5"},
    )
    assert summary["metrics"] == {
        "accuracy": 0.75,
        "f1": pytest.approx(reference.f1_score([0, 1, 5000, 7], [0, 1, 5000, 6], average="macro")),
    }
    assert summary["confusion_matrix"] is None and summary["plot"] is None
    assert summary["plot_missing"] == (
        "num_class 60000: a confusion matrix of over 100 classes is neither recorded nor drawn"
    )


def test_scoring_every_kind_imports_neither_scikit_learn_nor_scipy():
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from runner import metrics, plot, results\n"
        "for hyperparameters in ({'objective': 'binary:logistic'}, {'objective': 'binary:logitraw'},\n"
        "                        {'objective': 'binary:hinge'}, {'objective': 'multi:softmax', 'num_class': '2'},\n"
        "                        {'objective': 'multi:softprob', 'num_class': '2'}, {}):\n"
        "    objective = metrics.objective_of(hyperparameters)\n"
        "    labels = metrics.read_numbers([b'0\\n1\\n'], 'l', keep=metrics.label_reader(objective, 'l'))\n"
        "    text = b'[0.9, 0.1]\\n[0.2, 0.8]\\n' if objective.bracketed else b'0\\n1\\n'\n"
        "    predictions = metrics.read_numbers([text], 'p', columns=2 if objective.bracketed else 1,\n"
        "        bracketed=objective.bracketed, keep=metrics.prediction_reader(objective, labels, 'p'))\n"
        "    metrics.score(labels, predictions, objective)\n"
        "print(sorted({name.split('.')[0] for name in sys.modules if name.startswith(('sklearn', 'scipy'))}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_objective_is_read_from_the_stack_settings_strings_too():
    assert metrics.objective_of(["num_round=5", "objective=multi:softmax", "num_class=3"]) == metrics.Objective(
        "multi:softmax", metrics.MULTICLASS, 3
    )
    assert metrics.objective_of(None).name == "reg:squarederror"


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"objective": "binary:logistic"},
        {"objective": "binary:logitraw"},
        {"objective": "binary:hinge"},
        {"objective": "multi:softmax", "num_class": "3"},
        {"objective": "multi:softprob", "num_class": "3"},
        {},
    ],
)
def test_damaged_objects_are_refused_with_a_reason_never_an_exception(hyperparameters):
    objective = metrics.objective_of(hyperparameters)
    rng = np.random.default_rng(12)
    truth = rng.integers(0, 2, 40)
    if objective.bracketed:
        good = ("\n".join(map(str, rng.dirichlet([1, 1, 1], 40).astype(np.float32).tolist())) + "\n").encode()
    else:
        good = _container_lines(truth if objective.kind in (metrics.HINGE, metrics.MULTICLASS) else rng.random(40))
    labels_text = _labels_text(truth)
    damage = [b"", b"\n", b",", b"[", b"]", b" ", b"x", b"nan", b"-", b"1e999", b"\r", b"\x00", b"\xff", b"5"]
    for trial in range(300):
        text, which = bytearray(good if trial % 2 else labels_text), trial % 2
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(0, len(text)))
            text[at : at + int(rng.integers(0, 3))] = damage[rng.integers(0, len(damage))]
        try:
            scored = _read(objective, labels_text, bytes(text)) if which else _read(objective, bytes(text), good)
            scores, _ = metrics.score(*scored, objective)
        except metrics.NotScorable as refused:
            assert str(refused) and "\n" not in str(refused)
        else:
            assert all(value is None or np.isfinite(value) for value in scores.values())
