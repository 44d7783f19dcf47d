"""Let a Fail state re-raise a caught `States.*` error, as AWS Step Functions does.

The definition catches every failure as the state's output and ends in a Fail state with
`ErrorPath: $.Error`, so a failed SageMaker job ends the execution with
`States.TaskFailed`, as on AWS. moto's interpreter builds the Fail state's error name with
`CustomErrorName`, which refuses names starting with "States." (the ASL rule for *custom*
names), and the execution would end in `States.Runtime` instead.

Patched moto internal: moto/stepfunctions/parser/asl/component/state/fail/state_fail.py,
the module-level name `CustomErrorName` (used only by `StateFail._eval_state`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.state.fail import state_fail


class FailStateErrorName(ErrorName):
    """Any error name a Fail state evaluates to, `States.*` included."""


@contextlib.contextmanager
def installed() -> Iterator[None]:
    original = state_fail.CustomErrorName
    state_fail.CustomErrorName = FailStateErrorName
    try:
        yield
    finally:
        state_fail.CustomErrorName = original
