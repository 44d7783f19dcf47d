"""`run.py runs`: the past runs in runs/, from their summary.json files (local and AWS alike).

    run.py runs                   one line per run, newest first
    run.py runs show NAME         one run: where, settings, metrics, timings, files, failure
    run.py runs compare A B ...   settings and metrics side by side; rows that differ are marked

A run is named by its folder (the execution name) or by a prefix that names one run only.
A folder whose summary.json is missing or unreadable is listed as such, never skipped silently.
Cost: AWS bills instance-seconds; a summary records the training job's billable seconds, instance
type and count, so that is what is shown ("2 x ml.m5.xlarge, 62 billable s"); a local run costs
nothing. No price is recorded, so none is invented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.outputs import UsageError

KEY_METRICS = ("auc", "accuracy", "rmse", "logloss")


class Run:
    def __init__(self, folder: Path):
        self.folder, self.name = folder, folder.name
        self.summary: dict[str, Any] | None = None
        self.problem: str | None = None
        path = folder / "summary.json"
        try:
            loaded = json.loads(path.read_text())
        except FileNotFoundError:
            self.problem = "no summary.json (the run was interrupted or its results not saved)"
        except (OSError, ValueError) as error:
            self.problem = f"summary.json unreadable: {error}"
        else:
            if isinstance(loaded, dict):
                self.summary = loaded
            else:
                self.problem = "summary.json is not a JSON object"

    def get(self, *path: str) -> Any:
        value: Any = self.summary or {}
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    @property
    def started(self) -> str:
        return self.get("started") or ""

    @property
    def where(self) -> str:
        where = self.get("where") or {}
        if not where:
            return "?"
        place = "local" if where.get("local") else f"AWS {where.get('region') or '?'}"
        return f"{place} ({where['stack']})" if where.get("stack") else place

    @property
    def cost(self) -> str:
        if self.get("where", "local"):
            return "none (local)"
        training = self.get("training") or {}
        billable = training.get("billable_seconds")
        if billable is None:
            return "unknown"
        return f"{training.get('instance_count') or 1} x {training.get('instance_type') or '?'}, {billable} billable s"


def _runs(runs_dir: Path) -> list[Run]:
    if not runs_dir.is_dir():
        raise UsageError(f"{runs_dir}/ holds no runs yet (it does not exist): start one with run.py, "
                         "or name the folder with --runs-dir DIR")
    runs = [Run(folder) for folder in runs_dir.iterdir() if folder.is_dir() and not folder.name.startswith(".")]
    return sorted(runs, key=lambda run: (run.started, run.name), reverse=True)


def find(runs_dir: Path, name: str) -> Run:
    runs = _runs(runs_dir)
    exact = [run for run in runs if run.name == name]
    matches = exact or [run for run in runs if run.name.startswith(name)]
    if not matches:
        raise UsageError(f"no run named {name!r} in {runs_dir}/ (run.py runs lists them)")
    if len(matches) > 1:
        raise UsageError(f"{name!r} names {len(matches)} runs in {runs_dir}/ "
                         f"({', '.join(run.name for run in matches[:3])}, ...): give more of the name")
    return matches[0]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def list_runs(runs_dir: Path) -> tuple[str, list[dict]]:
    """The listing's text and its rows (for --json)."""
    runs = _runs(runs_dir)
    records = []
    for run in runs:
        metrics = run.get("metrics") or {}
        records.append({"name": run.name, "started": run.started or None, "where": run.where,
                        "status": run.get("status") if run.summary else None, "problem": run.problem,
                        "rows": run.get("rows", "train"), "cost": run.cost if run.summary else None,
                        "metrics": {key: metrics[key] for key in KEY_METRICS if key in metrics}})
    if not runs:
        return f"no runs in {runs_dir}/ yet: start one with run.py", records
    header = ["NAME", "STARTED (UTC)", "WHERE", "STATUS", "ROWS", *[key.upper() for key in KEY_METRICS], "COST"]
    lines = [header]
    for record in records:
        if record["problem"]:
            lines.append([record["name"], "", "", "?", "", *[""] * len(KEY_METRICS), record["problem"]])
            continue
        lines.append([record["name"], (record["started"] or "")[:19].replace("T", " "), record["where"],
                      record["status"] or "?", _number(record["rows"]),
                      *[_number(record["metrics"].get(key)) for key in KEY_METRICS], record["cost"]])
    return f"{len(runs)} run(s) in {runs_dir}/\n" + _table(lines), records


def show(run: Run) -> str:
    if run.summary is None:
        return f"{run.name}: {run.problem}\n  folder: {run.folder}/"
    lines = [f"{run.name}  {run.get('status')}  ({run.where})",
             f"  started {run.started}, {_number(run.get('seconds'))} s",
             f"  rows {_number(run.get('rows', 'train'))} training, {_number(run.get('rows', 'test'))} held out; "
             f"seed {_number(run.get('seed'))}"]
    stack = run.get("where", "stack")
    if stack:
        lines.append(f"  stack {stack} ({run.get('where', 'stack_file') or 'no stack file recorded'})")
    lines.append("  hyperparameters: " + ", ".join(f"{key}={value}" for key, value in
                                                  sorted((run.get("hyperparameters") or {}).items())))
    training = run.get("training") or {}
    lines.append(f"  training: {training.get('instance_count') or '?'} x {training.get('instance_type') or '?'}, "
                 f"{_number(training.get('training_seconds'))} s; cost {run.cost}")
    metrics = run.get("metrics") or {}
    if metrics:
        lines.append("  metrics: " + "   ".join(f"{key} {_number(value)}" for key, value in metrics.items()))
    for key, reason in (run.get("metrics_undefined") or {}).items():
        lines.append(f"  {key}: {reason}")
    if run.get("metrics_missing"):
        lines.append(f"  no metrics: {run.get('metrics_missing')}")
    gate = run.get("quality_gate") or {}
    if gate.get("metric"):
        lines.append(f"  {gate.get('message')}")
    if run.get("model_package_arn"):
        lines.append(f"  model package: {run.get('model_package_arn')}")
    states = run.get("states") or []
    if states:
        lines.append("  states: " + ", ".join(f"{state.get('name')} {_number(state.get('seconds'))} s"
                                              for state in states if isinstance(state, dict)))
    if run.get("status") != "SUCCEEDED":
        failed = run.get("failed_state")
        lines.append(f"  failed{f' in {failed}' if failed else ''}: {run.get('error')}: {run.get('cause')}")
    files = sorted(path.name for path in run.folder.iterdir() if path.is_file())
    lines.append(f"  files in {run.folder}/: {', '.join(files)}")
    return "\n".join(lines)


def _settings(run: Run) -> dict[str, Any]:
    values: dict[str, Any] = {"status": run.get("status"), "where": run.where, "started": run.started[:19],
                              "rows": run.get("rows", "train"), "seed": run.get("seed"),
                              "instance": f"{run.get('training', 'instance_count') or '?'} x "
                                          f"{run.get('training', 'instance_type') or '?'}",
                              "container": run.get("versions", "xgboost_container"),
                              "seconds": run.get("seconds"), "cost": run.cost}
    for key, value in sorted((run.get("hyperparameters") or {}).items()):
        values[f"hp {key}"] = value
    for key, value in (run.get("metrics") or {}).items():
        values[f"metric {key}"] = value
    return values


def compare(runs: list[Run]) -> tuple[str, dict]:
    """Settings and metrics side by side; a row whose values differ starts with '*'."""
    unreadable = [run for run in runs if run.summary is None]
    if unreadable:
        raise UsageError(f"{unreadable[0].name}: {unreadable[0].problem}: nothing to compare")
    columns = [_settings(run) for run in runs]
    keys = list(dict.fromkeys(key for column in columns for key in column))
    keys.sort(key=lambda key: (key.startswith("metric "), key.startswith("hp "), 0))
    lines = [["", "", *[run.name for run in runs]]]
    for key in keys:
        cells = [_number(column.get(key)) for column in columns]
        lines.append(["*" if len(set(cells)) > 1 else "", key, *cells])
    return _table(lines), {"runs": [run.name for run in runs],
                           "rows": {key: [column.get(key) for column in columns] for key in keys}}
