"""SageMaker's training hosts: a training job on InstanceCount > 1 runs one process per instance.

What AWS and the 1.7-1 container do, reproduced here (container: aws/sagemaker-xgboost-container
branch 1.7-1, `algorithm_mode/train.py` and `distributed.py`; library: xgboost 1.7.4):

- The hosts are `algo-1` ... `algo-N` (SM_HOSTS, SM_CURRENT_HOST). Each gets its channels' files
  under its own `input/data/<channel>/`: every object for `FullyReplicated`, its share for
  `ShardedByS3Key` (`shard`).
- Each host loads its data, then all hosts meet in a first rabit round (tracker on the
  alphabetically first host) and tell each other whether they have data: a host whose train
  files are empty, or whose validation files are empty while the job has a validation channel,
  leaves with exit code 0. The others train together in a second round (tracker on the first
  host with data), or alone, as a single-node job, if only one has data.
- xgboost's distributed mode chooses the tree method (`auto` is `approx`) and refuses `exact`
  ("Updater `grow_colmaker` or `exact` tree method doesn't support distributed training."): the
  job fails with the container's AlgorithmError.
- Only the first host with data (the round's master) saves the model. The evaluation log (hence
  the job's metrics) is the master's: xgboost 1.7.4's training callbacks average each round's
  metrics over the training hosts (`callback._allreduce_metric`), the container's own (feval) too.
- A host that fails ends the job: SageMaker stops the other hosts and reports the failure.

Where the emulation differs: all hosts are processes on this machine (trackers on 127.0.0.1 on a
free port each, where the container uses 9099 and 9100 on its master); each host's OpenMP threads
get a share of this machine's cores (OMP_NUM_THREADS, unless set); ranks follow host names (the
container's tracker sorts workers by IP address: with 3+ hosts a sum may be added in another order,
a last-bit difference); and which object goes to which host is not documented by AWS (see
`shard`).

The parent (`train`) runs in the job's thread: it writes each host's files into a temporary
directory laid out as /opt/ml, starts `python -m runner.emulator.sagemaker.hosts <host dir>` per host
(not fork: the parent has threads), and waits for all of them; a stop request or a failed host ends
every host process before `train` returns. A host process also exits when its parent dies (its
stdin closes).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from runner.emulator.sagemaker import container
from runner.emulator.preflight import MAX_LOCAL_HOSTS, TooManyHosts, check_instance_count  # noqa: F401

HOST_PREFIX = "algo-"
FULLY_REPLICATED, SHARDED_BY_S3_KEY = "FullyReplicated", "ShardedByS3Key"
POLL_SECONDS = 0.02
_PROJECT_DIR = Path(__file__).resolve().parents[3]
_INCLUDE = "include_in_training"
# How xgboost 1.7.4's rabit fails a collective call whose peer has gone (rabit/internal/utils.h).
_PEER_LOST = ("Allreduce failed", "Broadcast failed", "Allgather failed")
_LOG, _ROWS = "evaluation.json", "rows.json"  # what a host reports back (beside /opt/ml/model)


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


def _write_host(root: Path, host: str, hosts: list[str], channels: list[container.Channel],
                distributions: dict[str, str], hyperparameters: dict[str, str]) -> Path:
    """The host's /opt/ml: input/config/*.json and input/data/<channel>/ (hard links, not copies)."""
    host_dir = root / host
    config_dir = host_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    data_config = {}
    for channel in channels:
        files = _channel_files(channel.path)
        distribution = distributions.get(channel.name, FULLY_REPLICATED)
        names = (shard(list(files), hosts.index(host), len(hosts)) if distribution == SHARDED_BY_S3_KEY
                 else sorted(files))
        channel_dir = host_dir / "input" / "data" / channel.name
        channel_dir.mkdir(parents=True)
        for name in names:
            target = channel_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(files[name], target)
            except OSError:  # another file system
                shutil.copyfile(files[name], target)
        data_config[channel.name] = {"ContentType": channel.content_type,
                                     "S3DistributionType": distribution}
    (config_dir / "inputdataconfig.json").write_text(json.dumps(data_config))
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config_dir / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": hosts}))
    for directory in ("model", "output"):
        (host_dir / directory).mkdir()
    return host_dir


def _distributions(input_data_config: list[dict]) -> dict[str, str]:
    return {entry.get("ChannelName", ""): entry.get("DataSource", {}).get("S3DataSource", {})
            .get("S3DataDistributionType", FULLY_REPLICATED) for entry in input_data_config or []}


def _host_environment(host_count: int) -> dict[str, str]:
    environ = dict(os.environ)
    # Each instance has cores of its own on AWS; here the hosts share this machine's.
    environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // host_count)))
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_DIR), environ.get("PYTHONPATH")]))
    return environ


def train(channels: list[container.Channel], input_data_config: list[dict], instance_count: int,
          hyperparameters: dict[str, str], stop_requested: Callable[[], bool] = lambda: False
          ) -> container.TrainingResult:
    """Train on `instance_count` local hosts, one process each; the master host's model and log.

    Raises ContainerError (a host failed: every host is ended) or container.Stopped
    (`stop_requested()` came true: every host is ended).
    """
    try:
        check_instance_count(instance_count)
    except TooManyHosts as error:
        raise container.client_error(str(error)) from None
    hosts = host_names(instance_count)
    root = Path(tempfile.mkdtemp(prefix="sagemaker_hosts_"))
    processes: list[subprocess.Popen] = []
    try:
        distributions = _distributions(input_data_config)
        host_dirs = [_write_host(root, host, hosts, channels, distributions, hyperparameters)
                     for host in hosts]
        environ = _host_environment(instance_count)
        for host_dir in host_dirs:
            with open(host_dir / "output" / "log", "wb") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "runner.emulator.sagemaker.hosts", str(host_dir)],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=environ,
                    cwd=host_dir))
        while True:
            if stop_requested():
                raise container.Stopped()
            codes = [process.poll() for process in processes]
            failed = [(host_dir, code) for host_dir, code in zip(host_dirs, codes) if code not in (None, 0)]
            if failed:
                raise container.ContainerError(_failure_reason(*min(failed, key=_cause_first)))
            if all(code == 0 for code in codes):
                return _result(host_dirs)
            time.sleep(POLL_SECONDS)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait()
            process.stdin.close()
        shutil.rmtree(root, ignore_errors=True)


def _cause_first(failed: tuple[Path, int]) -> tuple[bool, bool, int]:
    """Among hosts found failed at once, the likely cause first: one killed by a signal (nothing
    here signals a host before the job has failed), then one whose own work failed rather than
    a collective call with a peer gone (rabit's "Allreduce failed"), then the earliest."""
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
    log = (host_dir / "output" / "log").read_text(errors="replace").strip().splitlines()
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return f"AlgorithmError: host {host_dir.name} {how}" + (f": {log[-1]}" if log else "")


def _result(host_dirs: list[Path]) -> container.TrainingResult:
    trained = [host_dir for host_dir in host_dirs if (host_dir / "output" / _ROWS).exists()]
    masters = [host_dir for host_dir in trained if (host_dir / "model" / container.MODEL_FILE).exists()]
    if not masters:
        # On AWS every host leaves after the first round and the job completes with an empty
        # model.tar.gz, which CreateModel accepts and the transform cannot load: failed here instead.
        raise container.client_error("No hosts received training data: every host's train (or "
                                     "validation) files are empty")
    rows: dict[str, int] = {}
    for host_dir in trained:
        for channel, count in json.loads((host_dir / "output" / _ROWS).read_text()).items():
            rows[channel] = rows.get(channel, 0) + count
    master = masters[0]
    return container.TrainingResult(model=(master / "model" / container.MODEL_FILE).read_bytes(),
                                    log=json.loads((master / "output" / _LOG).read_text()), rows=rows)


# -- one host (the worker process) --------------------------------------------------------------

class _NoDelayListener:
    """The tracker's listening socket, handing out connections with TCP_NODELAY set.

    Latency only: the tracker answers a worker in several 4-byte writes, which Nagle's algorithm
    holds back behind the worker's delayed ACK (40 ms each on Linux loopback): 0.13 s a round
    instead of 0.04 s for one worker, per host on top of the rehearsal's start-up."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def accept(self) -> tuple[socket.socket, object]:
        connection, address = self.sock.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def close(self) -> None:
        self.sock.close()


class _Rabit:
    """One rabit round, as the container's `distributed.Rabit`: the round's first host runs the
    tracker; the others learn its port from a file it writes once the tracker listens."""

    def __init__(self, host_dir: Path, round_name: str, hosts: list[str], current_host: str):
        self.hosts, self.current_host = sorted(hosts), current_host
        self.is_master = current_host == self.hosts[0]
        self._address = host_dir.parent / self.hosts[0] / "output" / f"tracker-{round_name}"
        self._tracker = None

    def __enter__(self) -> "_Rabit":
        from xgboost import collective
        from xgboost.tracker import RabitTracker

        if self.is_master:
            self._tracker = RabitTracker(host_ip="127.0.0.1", n_workers=len(self.hosts), sortby="task")
            self._tracker.sock = _NoDelayListener(self._tracker.sock)
            self._tracker.start(len(self.hosts))
            partial = self._address.with_suffix(".partial")
            partial.write_text(str(self._tracker.port))
            partial.rename(self._address)  # the others never read half a port number
        collective.init(DMLC_NUM_WORKER=len(self.hosts), DMLC_TRACKER_URI="127.0.0.1",
                        DMLC_TRACKER_PORT=self._tracker_port(), DMLC_TASK_ID=self.current_host)
        return self

    def _tracker_port(self) -> int:
        """Waits as long as it takes, as the container's hosts retry (max_connect_attempts None): the
        first host may still be loading a large share; the job's stop or deadline ends the wait."""
        while not self._address.exists():
            time.sleep(0.005)
        return int(self._address.read_text())

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is not None:
            # Failing: report it now. Waiting for the round's end could wait for ever (peers blocked
            # in a collective call); the job ends every host once this one exits.
            return
        from xgboost import collective

        collective.finalize()
        if self._tracker is not None:
            self._tracker.join()

    def synchronize(self, data: object) -> list:
        """Every host's `data`, in rank order (the container's RabitHelper.synchronize)."""
        from xgboost import collective

        return [collective.broadcast(data if rank == collective.get_rank() else None, rank)
                for rank in range(collective.get_world_size())]


def run_host(host_dir: Path) -> None:
    """One host's job, as the container's `sagemaker_train` runs it on SM_CURRENT_HOST."""
    config_dir = host_dir / "input" / "config"
    resources = json.loads((config_dir / "resourceconfig.json").read_text())
    hyperparameters = json.loads((config_dir / "hyperparameters.json").read_text())
    data_config = json.loads((config_dir / "inputdataconfig.json").read_text())
    hosts, current = sorted(resources["hosts"]), resources["current_host"]
    channels = [container.Channel(name=name, content_type=config["ContentType"],
                                  path=host_dir / "input" / "data" / name)
                for name, config in data_config.items()]
    scratch = host_dir / "scratch"
    scratch.mkdir()
    # Before rabit starts, as in the container: xgboost reads a file in distributed mode only in part.
    train_matrix, validation_matrix = container.read_channels(channels, hyperparameters, scratch)
    include = train_matrix is not None and (validation_matrix is not None or "validation" not in data_config)
    with _Rabit(host_dir, "hosts", hosts, current) as first_round:
        records = first_round.synchronize({"host": current, _INCLUDE: include})
    if not include:
        print(f"Host {current} not being used for distributed training.", flush=True)
        return
    with_data = sorted(record["host"] for record in records if record[_INCLUDE])
    if len(with_data) > 1:
        with _Rabit(host_dir, "training", with_data, current) as cluster:
            result = container.train_job(hyperparameters, train_matrix, validation_matrix,
                                         is_master=cluster.is_master)
    else:
        result = container.train_job(hyperparameters, train_matrix, validation_matrix, is_master=True)
    (host_dir / "output" / _ROWS).write_text(json.dumps(result.rows))
    if result.model is not None:
        (host_dir / "output" / _LOG).write_text(json.dumps(result.log))
        (host_dir / "model" / container.MODEL_FILE).write_bytes(result.model)


def _exit_with_parent() -> None:
    """The parent holds this process's stdin open until the job ends: EOF means it is gone.

    os.read, not sys.stdin: a daemon thread blocked in a buffered read would hold its lock at exit."""
    while os.read(0, 1 << 12):
        pass
    os._exit(1)


def main(argv: list[str]) -> int:
    host_dir = Path(argv[0])
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        run_host(host_dir)
    except container.ContainerError as error:
        (host_dir / "output" / "failure").write_text(error.reason)
        return 1
    except Exception as error:  # what the container reports as its own failure
        (host_dir / "output" / "failure").write_text(f"AlgorithmError: {type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
