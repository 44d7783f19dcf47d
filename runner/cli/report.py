"""A run's result as printed on stdout: one JSON object with --json, else a few lines."""

from __future__ import annotations

import json
from urllib.parse import urlparse

from runner import results
from runner.outputs import StackOutputs
from runner.terminal import shown


def format_metrics(scores: dict) -> str:
    """`auc 0.9876   rmse n/a`: names escaped, anything but a finite number n/a (remote text)."""
    return "   ".join(
        f"{shown(name)} {value:.4f}" if results.finite_number(value) else f"{shown(name)} n/a"
        for name, value in scores.items()
    )


def _report_registration(summary: dict) -> None:
    """The quality gate's verdict and the model package the run registered."""
    gate = summary.get("quality_gate") or {}
    if gate.get("metric"):
        print(f"  {shown(gate['message'])}")
    if summary.get("model_package_arn"):
        print(f"  registered {shown(summary['model_package_arn'])} (run.py models; run.py approve VERSION)")


def report(summary: dict, outputs: StackOutputs, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, allow_nan=False))
        return
    name, status = shown(summary["execution_name"]), shown(summary["status"])
    if status == "SUCCEEDED":
        rows = summary["rows"] or {}
        print(
            f"{name} SUCCEEDED: {shown(rows.get('train'))} training rows, {shown(rows.get('test'))} held-out rows, "
            f"seed {shown(summary['seed'])}"
        )
        if summary["metrics"]:
            print(f"  {format_metrics(summary['metrics'])}")
        for metric, reason in (summary["metrics_undefined"] or {}).items():
            print(f"  {shown(metric)}: {shown(reason)}")
        if summary["metrics_missing"]:
            print(f"  no metrics: {shown(summary['metrics_missing'])}")
        _report_registration(summary)
    else:
        print(
            f"{name} {status}"
            + (f" in state '{shown(summary['failed_state'])}'" if summary["failed_state"] else "")
            + (f", seed {shown(summary['seed'])}" if summary["seed"] is not None else "")
        )
        print(f"  error: {shown(summary['error'])}")
        print(f"  cause: {shown(summary['cause'])}")
        if summary.get("metrics"):  # a run the quality gate stopped was evaluated
            print(f"  {format_metrics(summary['metrics'])}")
        console = urlparse(outputs.console_url)
        if console.scheme == "https":  # the local emulator has no console
            print(
                f"  console: https://{console.netloc}/states/home?region={outputs.region}"
                f"#/v2/executions/details/{summary['execution_arn']}"
            )
    if summary.get("cost"):
        from runner import cost

        print(f"  {cost.describe(summary['cost'])}")
    if summary["artifacts_dir"]:
        kept = (
            "predictions, model, plot and summary.json"
            if summary["plot"]
            else ("predictions, model and summary.json" if summary["predictions"] else "summary.json")
        )
        print(f"  {kept} in {summary['artifacts_dir']}/")
        if summary["plot"]:
            print(f"  plot: {summary['plot']}")
    if summary["results_error"]:
        print(f"  not saved: {shown(summary['results_error'])}")
