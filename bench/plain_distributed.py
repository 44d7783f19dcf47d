#!/usr/bin/env python3
"""XGBoost as its own documentation shows it: one process per shard, a tracker when there are several.

    .image-envs/<version>/bin/python bench/plain_distributed.py MODEL SHARD.csv [SHARD.csv ...]
        [--hp KEY=VALUE ...] [--predict ROWS.csv]

Run it with an image environment's interpreter: it imports only that image's library (1.7.4's
Python RabitTracker with collective.init, or 3.x's native tracker with CommunicatorContext, as
each version documents). Each worker loads its shard (label-first CSV, xgboost's own parser,
before the communicator starts), trains with the others and rank 0 saves the model to MODEL; one
shard trains in one process, no tracker. With --predict, rank 0 also writes the predictions of
ROWS.csv (features only) to MODEL.out as the container answers them (str of each value, a line
each). Hyperparameters are xgboost params as strings, `num_round` the number of rounds (default
5). No SageMaker rules: the reference the local container is checked against (tests) and timed
against (`make bench`). Prints the seconds from the start to the saved model. Workers get
OMP_NUM_THREADS = cores / workers unless it is set, as the rehearsal's hosts do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def train(shard: str, model: str, hyperparameters: dict[str, str], predict: str | None, communicator=None) -> None:
    import numpy as np
    import xgboost as xgb
    from xgboost import collective

    params = dict(hyperparameters)
    num_round = int(params.pop("num_round", "5"))
    data = xgb.DMatrix(f"{shard}?format=csv&label_column=0", silent=True)
    with communicator or _nothing():
        booster = xgb.train(params, data, num_boost_round=num_round, evals=[(data, "train")], verbose_eval=False)
        rank = collective.get_rank()
    if rank == 0:  # after the communicator: a DMatrix made within it would wait for the others
        booster.save_model(model)
        if predict:
            rows = np.loadtxt(predict, delimiter=",", ndmin=2)
            answer = "\n".join(map(str, booster.predict(xgb.DMatrix(rows)).tolist())) + "\n"
            with open(model + ".out", "w") as out:
                out.write(answer)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def worker(arguments: dict, task: str, shard: str) -> None:
    from xgboost import collective

    if arguments["native"]:  # xgboost >= 2: the tracker hands out its arguments
        communicator = collective.CommunicatorContext(**arguments["tracker"], dmlc_task_id=task)
    else:  # xgboost 1.7
        communicator = collective.CommunicatorContext(
            DMLC_NUM_WORKER=arguments["world"], DMLC_TASK_ID=task, **arguments["tracker"]
        )
    train(shard, arguments["model"], arguments["hp"], arguments["predict"], communicator)


def main(argv: list[str]) -> int:
    hyperparameters: dict[str, str] = {}
    positional: list[str] = []
    predict = None
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--hp":
            key, _, value = next(arguments).partition("=")
            hyperparameters[key] = value
        elif argument == "--predict":
            predict = next(arguments)
        else:
            positional.append(argument)
    model, shards = positional[0], positional[1:]
    start = time.perf_counter()
    if len(shards) == 1:
        train(shards[0], model, hyperparameters, predict)
        print(f"{time.perf_counter() - start:.3f}")
        return 0
    from xgboost.tracker import RabitTracker

    environ = dict(os.environ)
    environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(shards))))
    native = hasattr(RabitTracker, "worker_args")
    if native:
        tracker = RabitTracker(n_workers=len(shards), host_ip="127.0.0.1", sortby="task")
        tracker.start()
        address = {key: value for key, value in tracker.worker_args().items()}
    else:
        tracker = RabitTracker(host_ip="127.0.0.1", n_workers=len(shards), sortby="task")
        tracker.start(len(shards))
        address = {"DMLC_TRACKER_URI": "127.0.0.1", "DMLC_TRACKER_PORT": tracker.port}
    shared = json.dumps(
        {
            "native": native,
            "tracker": address,
            "world": len(shards),
            "model": model,
            "hp": hyperparameters,
            "predict": predict,
        }
    )
    # Task ids sort as the local container's hosts do: rank i reads shard i.
    tasks = [str(index) if native else f"algo-{index + 1}" for index in range(len(shards))]
    workers = [
        subprocess.Popen([sys.executable, __file__, "--worker", shared, task, shard], env=environ)
        for task, shard in zip(tasks, shards)
    ]
    codes = [process.wait() for process in workers]
    if any(codes):  # the tracker's thread still waits for them: leave it to the exit
        print(f"workers exited with {codes}", file=sys.stderr)
        return 1
    tracker.wait_for() if native else tracker.join()
    print(f"{time.perf_counter() - start:.3f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(main(sys.argv[1:]))
