"""`run.py --local` end to end for the objectives whose predictions are not probabilities, and
for metrics SageMaker cannot report (inf, nan)."""

import json
from pathlib import Path

from runner import cli


def _rehearse(capsys, runs_dir, *argv):
    code = cli.main(["--local", "--json", "--runs-dir", str(runs_dir), "--rows", "300", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out, parse_constant=lambda constant: (_ for _ in ()).throw(ValueError(constant)))


def test_logitraw_margins_are_not_scored_as_probabilities(capsys, tmp_path, shared_stack):
    code, summary = _rehearse(capsys, tmp_path, "--hp", "objective=binary:logitraw", "--hp", "eval_metric=logloss")
    assert code == 0 and summary["metrics_missing"] is None
    assert set(summary["metrics"]) == {"accuracy", "auc"} and summary["metrics"]["auc"] > 0.9
    predictions = [float(line) for line in Path(summary["predictions"]).read_text().split()]
    assert min(predictions) < 0 < max(predictions)  # margins, which no probability metric may read


def test_an_infinite_training_metric_is_left_out_and_the_record_stays_strict_json(capsys, tmp_path, shared_stack):
    # The labels include 0: MAPE is inf; SageMaker's metric regex cannot match it.
    code, summary = _rehearse(capsys, tmp_path, "--hp", "objective=reg:squarederror", "--hp", "eval_metric=mape")
    assert code == 0
    assert not any("mape" in name for name in summary["training"]["final_metrics"] or {})
    assert set(summary["metrics"]) == {"rmse", "mae", "r2"}
    json.loads(Path(summary["summary"]).read_text(), parse_constant=lambda constant: 1 / 0)
