"""`run.py runs`: the past runs in runs/, from their summary.json files (local and AWS alike).

    run.py runs                   one line per run, newest first
    run.py runs show NAME         one run: where, data, settings, rounds, metrics, timings, files, failure
    run.py runs compare A B ...   side by side; rows that differ are marked (times only with --with-times)

A run is named by its folder (the execution name) or by any part of it that names one run only;
a part naming several lists them. A folder whose summary.json is missing or unreadable is listed
as such, never skipped silently. A summary.json is untrusted: read only if it is a regular file of
at most MAX_SUMMARY_BYTES (never blocking on a FIFO or device), nested at most MAX_DEPTH deep,
every value checked for its type before use, all text shown with control characters escaped.
Cost: the summary's cost record when it has a price, else the billable seconds it recorded.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from runner.errors import UsageError
from runner.terminal import shown

HELD_OUT_METRICS = ("auc", "accuracy", "rmse", "logloss")  # the first one a run has is its headline
MAX_SUMMARY_BYTES = 16 << 20
MAX_DEPTH = 32
CELL = 48  # characters of one text cell in a table (cut with '...')
_COMPARISONS = (">=", ">", "<=", "<")  # a quality gate's (lambda_src/evaluation.py)


def _depth(value: Any) -> int:
    """How deeply `value` nests (iteratively: a crafted file cannot exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def load_summary(path: Path) -> tuple[dict | None, str | None]:
    """(the summary, None) or (None, why it cannot be read); never blocks, never reads unbounded."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None, "no summary.json (the run was interrupted or its results not saved)"
    except OSError as error:
        return None, f"summary.json unreadable: {error.strerror or error}"
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None, "summary.json unreadable: not a regular file"
        try:
            data = file.read(MAX_SUMMARY_BYTES + 1)
        except OSError as error:
            return None, f"summary.json unreadable: {error.strerror or error}"
    if len(data) > MAX_SUMMARY_BYTES:
        return None, f"summary.json unreadable: larger than {MAX_SUMMARY_BYTES >> 20} MiB"
    try:
        loaded = json.loads(data, parse_constant=lambda constant: None)  # NaN, Infinity: unknown
    except (ValueError, RecursionError) as error:
        return (
            None,
            f"summary.json unreadable: not JSON ({shown(str(error).splitlines()[0] if str(error) else 'too deep', 80)})",
        )
    if not isinstance(loaded, dict):
        return None, "summary.json unreadable: not a JSON object"
    if _depth(loaded) > MAX_DEPTH:
        return None, f"summary.json unreadable: nested deeper than {MAX_DEPTH} levels"
    return loaded, None


def _finite(value: Any) -> int | float | None:
    """A number that formats as one: not a flag, NaN, an infinity, nor an integer past float's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:
        return None


class Run:
    def __init__(self, folder: Path):
        self.folder, self.name = folder, folder.name
        self.summary, self.problem = load_summary(folder / "summary.json")

    def get(self, *path: str) -> Any:
        value: Any = self.summary or {}
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def text(self, *path: str) -> str | None:
        value = self.get(*path)
        return value if isinstance(value, str) else None

    def number(self, *path: str) -> int | float | None:
        return _finite(self.get(*path))

    def mapping(self, *path: str) -> dict:
        value = self.get(*path)
        return value if isinstance(value, dict) else {}

    @property
    def started(self) -> str:
        return self.text("started") or ""

    @property
    def local(self) -> bool:
        return self.get("where", "local") is True

    @property
    def where(self) -> str:
        if not self.mapping("where"):
            return "?"
        place = "local" if self.local else f"AWS {self.text('where', 'region') or '?'}"
        stack = self.text("where", "stack")
        return f"{place} ({stack})" if stack else place

    @property
    def data(self) -> str:
        """generated, the file given to run.py (its name), or the S3 URI the data came from."""
        source = self.mapping("data")
        kind = source.get("kind")
        if not source or kind == "generated":
            return "generated" if self.summary else "?"
        given = self.text("where", "data_file")
        if given:
            return Path(given).name
        uri = source.get("uri") if isinstance(source.get("uri"), str) else None
        if kind == "file":
            return f"file {uri.rsplit('/', 1)[-1]}" if uri else "file"
        return uri or str(kind or "?")

    @property
    def label(self) -> str | None:
        return self.text("data", "label") or ("label" if self.data == "generated" else None)

    @property
    def objective(self) -> str | None:
        value = self.mapping("hyperparameters").get("objective")
        return value if isinstance(value, str) else None

    @property
    def image_version(self) -> str | None:
        """`imageVersion` when recorded, else the training image URI's tag."""
        version = self.text("imageVersion")
        if version:
            return version
        image = self.text("training", "image") or ""
        tail = image.rsplit("/", 1)[-1]
        return tail.rsplit(":", 1)[-1] if ":" in tail else None

    @property
    def rounds(self) -> int | None:
        return self.number("training", "model_file", "rounds")

    @property
    def best_iteration(self) -> int | None:
        return self.number("training", "model_file", "best_iteration")

    @property
    def validation_metrics(self) -> dict[str, float]:
        """What SageMaker reported (FinalMetricDataList), its validation channel's metrics."""
        final = self.mapping("training", "final_metrics")
        return {
            key: value for key, value in final.items() if key.startswith("validation:") and _finite(value) is not None
        }

    @property
    def held_out_metrics(self) -> dict[str, float]:
        return {key: value for key, value in self.mapping("metrics").items() if _finite(value) is not None}

    @property
    def gate(self) -> dict | None:
        """The quality gate's verdict: {gate ("auc >= 0.9", None: no gate set), passed, value};
        None when the run recorded none (it ended before Evaluate model, or predates the gate)."""
        record = self.mapping("quality_gate")
        if not isinstance(record.get("passed"), bool):
            return None
        metric, comparison, threshold = record.get("metric"), record.get("comparison"), _finite(record.get("threshold"))
        gate = None
        if isinstance(metric, str):
            known = comparison in _COMPARISONS and threshold is not None
            gate = f"{metric} {comparison} {threshold:g}" if known else "?"
        return {"gate": gate, "passed": record["passed"], "value": _finite(record.get("value"))}

    @property
    def model_package_arn(self) -> str | None:
        return self.text("model_package_arn")

    @property
    def model_package(self) -> str | None:
        """The registered version as `group/version` (the ARN's resource), None when none was."""
        arn = self.model_package_arn
        return arn.rpartition(":model-package/")[2] or arn if arn else None

    @property
    def cost(self) -> str:
        total = self.number("cost", "total_usd")
        if total is not None:
            return f"${total:.4f}"
        if self.local:
            return "none (local)"
        billable = self.number("training", "billable_seconds")
        if billable is None:
            return "unknown"
        count = self.number("training", "instance_count") or 1
        return f"{count} x {self.text('training', 'instance_type') or '?'}, {billable} billable s"

    def record(self) -> dict:
        """The fields the workbench shows, as JSON values (for --json)."""
        return {
            "name": self.name,
            "problem": self.problem,
            "started": self.started or None,
            "where": self.where,
            "status": self.text("status"),
            "data": self.data,
            "label": self.label,
            "objective": self.objective,
            "image_version": self.image_version,
            "rows": self.number("rows", "train"),
            "rounds": self.rounds,
            "best_iteration": self.best_iteration,
            "validation_metrics": self.validation_metrics,
            "metrics": self.held_out_metrics,
            "quality_gate": self.gate,
            "model_package_arn": self.model_package_arn,
            "cost": self.cost if self.summary else None,
        }


def _runs(runs_dir: Path) -> list[Run]:
    if not runs_dir.is_dir():
        raise UsageError(
            f"{shown(runs_dir)}/ holds no runs yet (it does not exist): start one with run.py, "
            "or name the folder with --runs-dir DIR"
        )
    runs = [Run(folder) for folder in runs_dir.iterdir() if folder.is_dir() and not folder.name.startswith(".")]
    return sorted(runs, key=lambda run: (run.started, run.name), reverse=True)


def find(runs_dir: Path, name: str) -> Run:
    """The run named `name`, or the one run whose name contains it; several: the candidates listed."""
    runs = _runs(runs_dir)
    exact = [run for run in runs if run.name == name]
    matches = exact or [run for run in runs if name in run.name]
    if not matches:
        raise UsageError(
            f"no run named {shown(name)!r} or containing it in {shown(runs_dir)}/ (run.py runs lists them)"
        )
    if len(matches) > 1:
        listed = "".join(f"\n  {shown(run.name)}" for run in matches[:20])
        more = f"\n  ... and {len(matches) - 20} more" if len(matches) > 20 else ""
        raise UsageError(f"{shown(name)!r} is part of {len(matches)} run names: give more of the name:{listed}{more}")
    return matches[0]


def _number(value: Any) -> str:
    value = _finite(value) if not isinstance(value, str) else value
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else shown(value, CELL)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _headline(metrics: dict[str, float]) -> str:
    key = next((key for key in HELD_OUT_METRICS if key in metrics), None)
    return f"{key} {metrics[key]:.4f}" if key else "-"


def _validation(metrics: dict[str, float]) -> str:
    if not metrics:
        return "-"
    key = next(iter(sorted(metrics)))
    return f"{shown(key.removeprefix('validation:'), CELL)} {metrics[key]:.4f}"


def _rounds(run: Run) -> str:
    if run.rounds is None:
        return "-"
    return f"{run.rounds}" + (f" (best {run.best_iteration})" if run.best_iteration is not None else "")


def _gate(run: Run) -> str:
    """The list's GATE cell: `auc>=0.9 pass` / `auc>=0.9 FAIL`, `none` (no gate set), `-` (not recorded)."""
    gate = run.gate
    if gate is None:
        return "-"
    if gate["gate"] is None:
        return "none"
    return f"{shown(gate['gate'].replace(' ', ''), CELL)} {'pass' if gate['passed'] else 'FAIL'}"


def _model(run: Run) -> str:
    """The list's MODEL cell: the registered version (`v3`), `-` when none was registered."""
    package = run.model_package
    if package is None:
        return "-"
    version = package.rpartition("/")[2]
    return f"v{version}" if version.isdigit() else shown(package, CELL)


def list_runs(runs_dir: Path) -> tuple[str, list[dict]]:
    """The listing's text and its rows (for --json)."""
    runs = _runs(runs_dir)
    records = [run.record() for run in runs]
    if not runs:
        return f"no runs in {shown(runs_dir)}/ yet: start one with run.py", records
    header = [
        "NAME",
        "STARTED (UTC)",
        "WHERE",
        "STATUS",
        "DATA",
        "LABEL",
        "OBJECTIVE",
        "IMAGE",
        "ROWS",
        "ROUNDS",
        "VALIDATION",
        "HELD-OUT",
        "GATE",
        "MODEL",
        "COST",
    ]
    lines = [header]
    for run in runs:
        if run.problem:
            lines.append([shown(run.name), *[""] * 2, "?", *[""] * 10, shown(run.problem)])
            continue
        lines.append(
            [
                shown(run.name),
                shown(run.started[:19].replace("T", " ")),
                shown(run.where, CELL),
                shown(run.text("status") or "?", CELL),
                shown(run.data, CELL),
                shown(run.label or "-", CELL),
                shown(run.objective or "-", CELL),
                shown(run.image_version or "-", CELL),
                _number(run.number("rows", "train")),
                _rounds(run),
                _validation(run.validation_metrics),
                _headline(run.held_out_metrics),
                _gate(run),
                _model(run),
                shown(run.cost, CELL),
            ]
        )
    return f"{len(runs)} run(s) in {shown(runs_dir)}/\n" + _table(lines), records


def show(run: Run) -> str:
    if run.summary is None:
        return f"{shown(run.name)}: {run.problem}\n  folder: {shown(run.folder)}/"
    lines = [
        f"{shown(run.name)}  {shown(run.text('status') or '?')}  ({shown(run.where)})",
        f"  started {shown(run.started)}, {_number(run.get('seconds'))} s",
        f"  data {shown(run.data)}, label {shown(run.label or '-')}, objective {shown(run.objective or '-')}, "
        f"image {shown(run.image_version or '-')}",
        f"  rows {_number(run.get('rows', 'train'))} training, {_number(run.get('rows', 'test'))} held out; "
        f"seed {_number(run.get('seed'))}",
    ]
    stack = run.text("where", "stack")
    if stack:
        lines.append(f"  stack {shown(stack)} ({shown(run.text('where', 'stack_file') or 'no stack file recorded')})")
    lines.append(
        "  hyperparameters: "
        + ", ".join(f"{shown(key)}={_number(value)}" for key, value in sorted(run.mapping("hyperparameters").items()))
    )
    training = run.mapping("training")
    lines.append(
        f"  training: {_number(training.get('instance_count'))} x {_number(training.get('instance_type'))}, "
        f"{_number(training.get('training_seconds'))} s; rounds {_rounds(run)}; cost {shown(run.cost)}"
    )
    if run.validation_metrics:
        lines.append(
            "  validation (SageMaker's final metrics): "
            + "   ".join(f"{shown(key)} {value:.4f}" for key, value in run.validation_metrics.items())
        )
    if run.held_out_metrics:
        lines.append(
            "  held-out metrics: "
            + "   ".join(f"{shown(key)} {_number(value)}" for key, value in run.held_out_metrics.items())
        )
    for key, reason in run.mapping("metrics_undefined").items():
        lines.append(f"  {shown(key)}: {_number(reason)}")
    if run.get("metrics_missing"):
        lines.append(f"  no metrics: {_number(run.get('metrics_missing'))}")
    gate = run.mapping("quality_gate")
    if isinstance(gate.get("metric"), str):
        lines.append(f"  {shown(str(gate.get('message') or ''))}")
    if run.text("model_package_arn"):
        lines.append(f"  model package: {shown(run.text('model_package_arn'))}")
    states = run.get("states")
    if isinstance(states, list) and states:
        lines.append(
            "  states: "
            + ", ".join(
                f"{_number(state.get('name'))} {_number(state.get('seconds'))} s"
                for state in states
                if isinstance(state, dict)
            )
        )
    if run.text("status") != "SUCCEEDED":
        failed = run.text("failed_state")
        lines.append(
            f"  failed{f' in {shown(failed)}' if failed else ''}: {_number(run.get('error'))}: "
            f"{shown(run.get('cause')) if run.get('cause') is not None else '-'}"
        )
    try:
        files = sorted(shown(path.name) for path in run.folder.iterdir() if path.is_file())
    except OSError:
        files = []
    lines.append(f"  files in {shown(run.folder)}/: {', '.join(files)}")
    return "\n".join(lines)


def _settings(run: Run, with_times: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": run.text("status"),
        "where": run.where,
        "data": run.data,
        "label": run.label,
        "objective": run.objective,
        "image": run.image_version,
        "rows": run.number("rows", "train"),
        "seed": run.number("seed"),
        "instance": f"{_number(run.get('training', 'instance_count'))} x "
        f"{_number(run.get('training', 'instance_type'))}",
        "rounds": run.rounds,
        "best iteration": run.best_iteration,
        "cost": run.cost,
    }
    gate = run.gate
    values.update(
        {
            "quality gate": None if gate is None else gate["gate"] or "none",
            "gate verdict": (
                None if gate is None or gate["gate"] is None else "passed" if gate["passed"] else "failed"
            ),
            "model package": run.model_package,
        }
    )
    if with_times:  # always different: left out unless asked
        values.update(started=run.started[:19] or None, seconds=run.number("seconds"))
    for key, value in sorted(run.mapping("hyperparameters").items()):
        values[f"hp {key}"] = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    for key, value in run.validation_metrics.items():
        values[f"sagemaker {key}"] = value
    for key, value in run.held_out_metrics.items():
        values[f"held-out {key}"] = value
    return values


def compare(runs: list[Run], with_times: bool = False) -> tuple[str, dict]:
    """Settings and metrics side by side; a row whose values differ starts with '*'."""
    unreadable = [run for run in runs if run.summary is None]
    if unreadable:
        raise UsageError(f"{shown(unreadable[0].name)}: {unreadable[0].problem}: nothing to compare")
    columns = [_settings(run, with_times) for run in runs]
    keys = list(dict.fromkeys(key for column in columns for key in column))
    order = ("hp ", "sagemaker ", "held-out ")
    keys.sort(key=lambda key: next((index + 1 for index, start in enumerate(order) if key.startswith(start)), 0))
    lines = [["", "", *[shown(run.name) for run in runs]]]
    differ = []
    for key in keys:
        cells = [_number(column.get(key)) for column in columns]
        if len(set(cells)) > 1:
            differ.append(key)
        lines.append(["*" if len(set(cells)) > 1 else "", shown(key, CELL), *cells])
    return _table(lines), {
        "runs": [run.name for run in runs],
        "differ": differ,
        "rows": {key: [column.get(key) for column in columns] for key in keys},
    }
