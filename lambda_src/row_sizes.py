"""What a run's rows take in memory and as CSV: the one home of the figures every check of a row count uses.

Measured with xgboost 1.7.4 and the generator's data (x and y uniform integers in [0, 100]);
the figures and how they were measured: docs/performance.md.
"""

from __future__ import annotations

TRAINING_ROW_MEMORY_BYTES = 130  # xgboost 1.7.4, a training row once loaded (the approx method's upper end)
TRAINING_ROW_CSV_BYTES = 7.8  # a generated "label,x,y" line, on average
TEST_ROW_CSV_BYTES = 5.8  # a generated "x,y" line, on average
LABEL_ROW_BYTES = 2  # a generated label line: "0" or "1"


def validation_rows(rows: int) -> int:
    """The validation rows the generator adds to `rows` training rows unless told otherwise."""
    return max(1, rows // 10)


def generated_csv_bytes(rows: int) -> float:
    """About the CSV the generator writes for `rows` training rows: their validation rows, and as
    many test rows (with their labels) as training rows."""
    return (rows + validation_rows(rows)) * TRAINING_ROW_CSV_BYTES + rows * (TEST_ROW_CSV_BYTES + LABEL_ROW_BYTES)
