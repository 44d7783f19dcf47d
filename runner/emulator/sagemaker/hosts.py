"""SageMaker's training hosts: a training job runs one container process per instance.

What AWS does around the container, reproduced here (what the container does on each host is
runner/container/training.py and distributed.py, in the image's environment):

- The hosts are `algo-1` ... `algo-N` (SM_HOSTS, SM_CURRENT_HOST). Each gets its channels' files
  under its own `input/data/<channel>/`: every object for `FullyReplicated`, its share for
  `ShardedByS3Key` (`shard`).
- Each host loads its data, then all hosts meet in a first collective round (tracker on the
  alphabetically first host) and tell each other whether they have data: a host whose train
  files are empty, or whose validation files are empty while the job has a validation channel,
  leaves with exit code 0. The others train together in a second round (tracker on the first
  host with data), or alone, as a single-node job, if only one has data.
- xgboost's distributed mode chooses the tree method (1.7.4: `auto` is `approx`; 3.x: `hist`) and
  refuses `exact`: the job fails with the container's AlgorithmError.
- Only the first host with data (the round's master) saves the model. The evaluation log (hence
  the job's metrics) is the master's: xgboost's training callbacks average each round's metrics
  over the training hosts (`callback._allreduce_metric`), the container's own too.
- A host that fails ends the job: SageMaker stops the other hosts and reports the failure.

Where the emulation differs: all hosts are processes on this machine (trackers on 127.0.0.1 on a
free port each, where the container uses 9099 and 9100 on its master); each host's OpenMP threads
get a share of this machine's cores (OMP_NUM_THREADS, unless set); ranks follow host names (the
container's tracker sorts workers by IP address: with 3+ hosts a sum may be added in another order,
a last-bit difference); and which object goes to which host is not documented by AWS (see
`shard`).

Every training job runs this way, one instance too: `train` writes each host's files into a
temporary directory laid out as /opt/ml, starts a container process per host in the image's
environment (container_pool), hands it its folder, and waits for all of them; a stop request or a
failed host ends every host process before `train` returns. The master's evaluation lines (its
stdout) are the rounds as they finish: `on_round` gets each (checkpoint sync, spot reclaim).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from runner.container.failures import ContainerError, client_error
from runner.emulator.preflight import MAX_LOCAL_HOSTS, TooManyHosts, check_instance_count  # noqa: F401
from runner.emulator.sagemaker import container_pool

HOST_PREFIX = "algo-"
FULLY_REPLICATED, SHARDED_BY_S3_KEY = "FullyReplicated", "ShardedByS3Key"
POLL_SECONDS = 0.02
MODEL_FILE = "xgboost-model"
_LOG, _ROWS = "evaluation.json", "rows.json"  # what a host reports back (runner/container/training.py)
# How a collective call fails when its peer has gone (1.7.4's rabit/internal/utils.h; 3.x's collective).
_PEER_LOST = ("Allreduce failed", "Broadcast failed", "Allgather failed", "Connection reset", "Broken pipe")
_ROUND_LINE = re.compile(r"^\[([0-9]+)\]\t")


@dataclasses.dataclass(frozen=True)
class Channel:
    """One input channel as the job describes it, downloaded to `path` (a directory or one file)."""

    name: str
    content_type: str | None
    path: Path
    input_mode: str = "File"


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    model: bytes | None  # xgboost-model as the image's library saved it
    log: list[str]  # the evaluation lines, one per round: "[0]\ttrain-rmse:0.40000\t..."
    rows: dict[str, int]  # rows read per channel


class Stopped(Exception):
    """Training was asked to stop (SageMaker's SIGTERM: the container saves nothing by default)."""


def host_names(count: int) -> list[str]:
    return [f"{HOST_PREFIX}{number}" for number in range(1, count + 1)]


def shard(names: list[str], host_index: int, host_count: int) -> list[str]:
    """The objects ShardedByS3Key gives host `host_index` (0-based, hosts in name order).

    AWS documents only that "each instance gets approximately 1/n of the number of S3 objects"
    (S3DataSource.S3DataDistributionType), not which ones. Here the objects in S3's listing order
    (key order) go round-robin: host i gets objects i, i+n, i+2n, ... The pipeline writes one
    part-NNNNN.csv per instance, so host i gets the i-th part either way.
    """
    return sorted(names)[host_index::host_count]


def _channel_files(path: Path) -> dict[str, Path]:
    """The channel's downloaded objects by their path below the prefix (their key order sorts them)."""
    if path.is_file():
        return {path.name: path}
    return {file.relative_to(path).as_posix(): file for file in path.rglob("*") if file.is_file()}


def _write_host(
    root: Path,
    host: str,
    hosts: list[str],
    channels: list[Channel],
    distributions: dict[str, str],
    hyperparameters: dict[str, str],
    checkpoint_dir: Path | None = None,
) -> Path:
    """The host's /opt/ml: input/config/*.json and input/data/<channel>/ (hard links, not copies)."""
    host_dir = root / host
    config_dir = host_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    data_config = {}
    for channel in channels:
        files = _channel_files(channel.path)
        distribution = distributions.get(channel.name, FULLY_REPLICATED)
        names = (
            shard(list(files), hosts.index(host), len(hosts)) if distribution == SHARDED_BY_S3_KEY else sorted(files)
        )
        channel_dir = host_dir / "input" / "data" / channel.name
        channel_dir.mkdir(parents=True)
        for name in names:
            target = channel_dir / name
            if not target.resolve().is_relative_to(channel_dir.resolve()):
                raise client_error(f"Channel {channel.name}: {name!r} would land outside the channel directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(files[name], target)
            except OSError:  # another file system
                shutil.copyfile(files[name], target)
        data_config[channel.name] = {
            "ContentType": channel.content_type,
            "TrainingInputMode": channel.input_mode,
            "S3DistributionType": distribution,
        }
    (config_dir / "inputdataconfig.json").write_text(json.dumps(data_config))
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config_dir / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
    if checkpoint_dir is not None:
        (config_dir / "checkpointconfig.json").write_text(json.dumps({"LocalPath": str(checkpoint_dir)}))
    for directory in ("model", "output"):
        (host_dir / directory).mkdir()
    return host_dir


def _distributions(input_data_config: list[dict]) -> dict[str, str]:
    return {
        entry.get("ChannelName", ""): entry.get("DataSource", {})
        .get("S3DataSource", {})
        .get("S3DataDistributionType", FULLY_REPLICATED)
        for entry in input_data_config or []
    }


def _host_environment(host_count: int) -> dict[str, str] | None:
    """Each instance has cores of its own on AWS; here several hosts share this machine's."""
    if host_count == 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // host_count))}


def _follow(process: subprocess.Popen, log: Path, on_line: Callable[[str], None], failed: list) -> None:
    """Copy the host's output to its log; hand each line to `on_line` (an exception ends the job)."""
    with open(log, "ab") as handle:
        for raw in process.stdout:
            handle.write(raw)
            if failed:
                continue
            try:
                on_line(raw.decode(errors="replace").rstrip("\n"))
            except BaseException as error:  # noqa: BLE001  raised again by the job's thread
                failed.append(error)


def train(
    version: str,
    channels: list[Channel],
    input_data_config: list[dict],
    instance_count: int,
    hyperparameters: dict[str, str],
    stop_requested: Callable[[], bool] = lambda: False,
    checkpoint_dir: Path | None = None,
    on_round: Callable[[int], None] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train on `instance_count` local hosts of image `version`, one container process each; the
    master host's model and log. `on_round(epoch)` runs as each round's evaluation line arrives; what
    it raises ends every host and is raised here. `on_log(line)` gets algo-1's log lines as they come.

    Raises ContainerError (a host failed: every host is ended) or Stopped (`stop_requested()` came true).
    """
    try:
        check_instance_count(instance_count)
    except TooManyHosts as error:
        raise client_error(str(error)) from None
    hosts = host_names(instance_count)
    root = Path(tempfile.mkdtemp(prefix="sagemaker_hosts_"))
    processes: list[subprocess.Popen] = []
    readers: list[threading.Thread] = []
    raised: list[BaseException] = []
    try:
        distributions = _distributions(input_data_config)
        host_dirs = [
            _write_host(root, host, hosts, channels, distributions, hyperparameters, checkpoint_dir) for host in hosts
        ]
        environment = _host_environment(instance_count)
        for index, host_dir in enumerate(host_dirs):
            process = container_pool.start(version, environment)
            processes.append(process)
            process.stdin.write(json.dumps({"job": "train", "ml": str(host_dir)}).encode() + b"\n")
            process.stdin.flush()

            def on_line(line: str, first: bool = index == 0) -> None:
                if first and on_log is not None:
                    on_log(line)
                match = _ROUND_LINE.match(line)
                if match and on_round is not None:
                    on_round(int(match.group(1)))

            reader = threading.Thread(
                target=_follow, args=(process, host_dir / "output" / "log", on_line, raised), daemon=True
            )
            reader.start()
            readers.append(reader)
        while True:
            if raised:
                raise raised[0]
            if stop_requested():
                raise Stopped()
            codes = [process.poll() for process in processes]
            failed = [(host_dir, code) for host_dir, code in zip(host_dirs, codes) if code not in (None, 0)]
            if failed:
                raise ContainerError(_failure_reason(*min(failed, key=_cause_first)))
            if all(code == 0 for code in codes):
                for reader in readers:
                    reader.join()
                if raised:
                    raise raised[0]
                return _result(host_dirs)
            time.sleep(POLL_SECONDS)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait()
            process.stdin.close()
        for reader in readers:
            reader.join()
        for process in processes:
            process.stdout.close()
        shutil.rmtree(root, ignore_errors=True)


def _cause_first(failed: tuple[Path, int]) -> tuple[bool, bool, int]:
    """Among hosts found failed at once, the likely cause first: one killed by a signal (nothing
    here signals a host before the job has failed), then one whose own work failed rather than
    a collective call with a peer gone, then the earliest."""
    host_dir, code = failed
    failure = host_dir / "output" / "failure"
    if not failure.exists():
        return code > 0, False, 0
    return code > 0, any(text in failure.read_text() for text in _PEER_LOST), failure.stat().st_mtime_ns


def _failure_reason(host_dir: Path, code: int) -> str:
    """The host's own reason (/opt/ml/output/failure), else how it ended and its last log line."""
    failure = host_dir / "output" / "failure"
    if failure.exists() and failure.read_text().strip():
        return failure.read_text().strip()
    log_file = host_dir / "output" / "log"
    log = log_file.read_text(errors="replace").strip().splitlines() if log_file.exists() else []
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return f"AlgorithmError: host {host_dir.name} {how}" + (f": {log[-1]}" if log else "")


def _result(host_dirs: list[Path]) -> TrainingResult:
    trained = [host_dir for host_dir in host_dirs if (host_dir / "output" / _ROWS).exists()]
    masters = [host_dir for host_dir in trained if (host_dir / "model" / MODEL_FILE).exists()]
    if not masters:
        # On AWS every host leaves after the first round and the job completes with an empty
        # model.tar.gz, which CreateModel accepts and the transform cannot load: failed here instead.
        raise client_error("No hosts received training data: every host's train (or validation) files are empty")
    rows: dict[str, int] = {}
    for host_dir in trained:
        for channel, count in json.loads((host_dir / "output" / _ROWS).read_text()).items():
            rows[channel] = rows.get(channel, 0) + count
    master = masters[0]
    return TrainingResult(
        model=(master / "model" / MODEL_FILE).read_bytes(),
        log=json.loads((master / "output" / _LOG).read_text()),
        rows=rows,
    )
