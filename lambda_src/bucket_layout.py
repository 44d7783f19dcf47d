"""Where a run's objects live in the stack's bucket: the one home of the layout (standard library only).

The state machine's definition, the roles' resource patterns, the functions and run.py all
read the layout from here. Everything one execution writes is under `runs/<execution name>/`:

    upload/                          a local file run.py uploaded for this run
    csv/train/part-00000.csv ...     training rows, one object per shard
    csv/validation/validation.csv    validation rows
    csv/test/test.csv                the held-out rows, without labels
    csv/labels/test_labels.csv       their labels, one per line, same order
    model/<job>/output/model.tar.gz  the training job's artifact
    checkpoints/                     a spot job's checkpoints
    predictions/test.csv.out         the batch transform's output
    evaluation/evaluation.json       the evaluation function's report
"""

from __future__ import annotations

RUNS = "runs"  # of the bucket: runs/<execution name>/
# Folders of a run (under runs/<execution name>/).
UPLOAD = "upload"
CSV = "csv"  # everything the seeding function writes
TRAIN = f"{CSV}/train"
VALIDATION = f"{CSV}/validation"
TEST = f"{CSV}/test"
LABELS = f"{CSV}/labels"
MODEL = "model"  # the training job's S3OutputPath
CHECKPOINTS = "checkpoints"
PREDICTIONS = "predictions"  # the transform job's S3OutputPath
EVALUATION = "evaluation"
# Files of a run.
VALIDATION_FILE = f"{VALIDATION}/validation.csv"
TEST_FILE = f"{TEST}/test.csv"
LABELS_FILE = f"{LABELS}/test_labels.csv"
# Batch transform names its output `<input file name>.out` under the output path.
PREDICTIONS_FILE = f"{PREDICTIONS}/test.csv.out"
EVALUATION_FILE = f"{EVALUATION}/evaluation.json"


def run_prefix(execution_name: str) -> str:
    """The key prefix of everything one execution writes: `runs/<execution name>/`."""
    return f"{RUNS}/{execution_name}/"


def train_file(shard: int) -> str:
    """The training object of one shard, under the run's prefix."""
    return f"{TRAIN}/part-{shard:05d}.csv"
