"""How a job fails: `ContainerError.reason` is its FailureReason, as DescribeTrainingJob shows it."""

from __future__ import annotations

FAILURE_REASON_LIMIT = 1024  # DescribeTrainingJob's FailureReason is at most 1024 characters


class ContainerError(Exception):
    """The job fails; `reason` is its FailureReason (`ClientError: ...` the user's fault, else `AlgorithmError: ...`)."""

    def __init__(self, reason: str):
        reason = reason[:FAILURE_REASON_LIMIT]
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> ContainerError:
    return ContainerError(f"ClientError: {message}")


def algorithm_error(message: str) -> ContainerError:
    return ContainerError(f"AlgorithmError: {message}")
