"""Keep moto's Batch and EC2 models out of the process until a state machine uses Batch.

moto's Step Functions task factory imports every service integration when it loads. Its
Batch integration imports `moto.batch.models`, which imports `moto.ec2`: about 1.3 s (a
class body there builds a botocore Session, instance types load from JSON), paid by every
rehearsal for a service this stack never calls. Importing this module before the factory
puts a stand-in for the integration module in `sys.modules`; its `StateTaskServiceBatch`
imports the real one the first time a Batch task is built, and builds that.

Patched moto internal (moto pinned in requirements.txt):
  moto/stepfunctions/parser/asl/component/state/exec/state_task/service/state_task_service_factory.py
  imports `StateTaskServiceBatch` from `...service.state_task_service_batch` at module level
  and calls `StateTaskServiceBatch()` for `arn:aws:states:::batch:*` resources.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types

BATCH_INTEGRATION = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
FACTORY = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory"


@functools.cache
def real_batch_service() -> type:
    """moto's StateTaskServiceBatch, its module (and moto.batch, moto.ec2) imported now."""
    if getattr(sys.modules.get(BATCH_INTEGRATION), "DEFERRED", False):
        del sys.modules[BATCH_INTEGRATION]
    return importlib.import_module(BATCH_INTEGRATION).StateTaskServiceBatch


class StateTaskServiceBatch:
    """Stands in for moto's class in the factory; constructing it builds the real one."""

    def __new__(cls, *args, **kwargs):
        return real_batch_service()(*args, **kwargs)


def install() -> None:
    """Put the stand-in in place unless the factory (or the integration) is loaded already."""
    if FACTORY in sys.modules or BATCH_INTEGRATION in sys.modules:
        return
    stand_in = types.ModuleType(BATCH_INTEGRATION, __doc__)
    stand_in.DEFERRED = True
    stand_in.StateTaskServiceBatch = StateTaskServiceBatch
    sys.modules[BATCH_INTEGRATION] = stand_in


install()
