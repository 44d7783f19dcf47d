#!/usr/bin/env python3
"""Distributed XGBoost as its own documentation shows it: one worker process per shard, a tracker.

    venv/bin/python bench/plain_distributed.py MODEL SHARD.csv [SHARD.csv ...] [--hp KEY=VALUE ...]

Each worker loads its shard (label-first CSV, xgboost's own parser, before the communicator
starts, or it would read only part of it), trains with the others through a RabitTracker on
127.0.0.1 and rank 0 saves the model to MODEL. Hyperparameters are xgboost params as strings,
`num_round` the number of rounds (default 5). No SageMaker rules: the reference the rehearsal's
multi-instance training is checked against (tests) and timed against (`make bench`). Prints the
seconds from the workers' start to the saved model. Workers get OMP_NUM_THREADS = cores /
workers unless it is set, as the rehearsal's hosts do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def worker(port: int, task: str, world: int, shard: str, model: str, hyperparameters: dict[str, str]) -> None:
    import xgboost as xgb
    from xgboost import collective

    params = dict(hyperparameters)
    num_round = int(params.pop("num_round", "5"))
    train = xgb.DMatrix(f"{shard}?format=csv&label_column=0", silent=True)
    with collective.CommunicatorContext(DMLC_NUM_WORKER=world, DMLC_TRACKER_URI="127.0.0.1",
                                        DMLC_TRACKER_PORT=port, DMLC_TASK_ID=task):
        booster = xgb.train(params, train, num_boost_round=num_round, evals=[(train, "train")],
                            verbose_eval=False)
        if collective.get_rank() == 0:
            booster.save_model(model)


def main(argv: list[str]) -> int:
    from xgboost.tracker import RabitTracker

    hyperparameters: dict[str, str] = {}
    positional: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--hp":
            key, _, value = next(arguments).partition("=")
            hyperparameters[key] = value
        else:
            positional.append(argument)
    model, shards = positional[0], positional[1:]
    environ = dict(os.environ)
    environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(shards))))
    start = time.perf_counter()
    tracker = RabitTracker(host_ip="127.0.0.1", n_workers=len(shards), sortby="task")
    tracker.start(len(shards))
    # Task ids sort like the rehearsal's host names (algo-1, algo-2, ...): rank i reads shard i.
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(tracker.port), f"algo-{index + 1}",
                                 str(len(shards)), shard, model, json.dumps(hyperparameters)], env=environ)
               for index, shard in enumerate(shards)]
    codes = [process.wait() for process in workers]
    if any(codes):  # the tracker's thread still waits for them: leave it to the exit
        print(f"workers exited with {codes}", file=sys.stderr)
        return 1
    tracker.join()
    print(f"{time.perf_counter() - start:.3f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        port, task, world, shard, model, hyperparameters = sys.argv[2:8]
        worker(int(port), task, int(world), shard, model, json.loads(hyperparameters))
    else:
        raise SystemExit(main(sys.argv[1:]))
