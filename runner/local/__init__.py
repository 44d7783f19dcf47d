"""The offline rehearsal: the pipeline's stack on an in-process AWS emulator (moto) with real XGBoost.

One small module per concern:
  stack.py                `local_stack(settings)`: host moto, deploy, yield the stack outputs
  lambda_runtime.py       Lambda Invoke runs the handler in-process
  sagemaker_jobs.py       SageMaker training/transform jobs run in background threads
  sagemaker_container.py  what the built-in XGBoost container does with the data
  sfn_sagemaker.py        the Step Functions SageMaker integration (.sync) for moto's interpreter
  moto_batch_deferred.py  moto's Batch (and EC2) models load only if a state machine uses Batch
"""

from runner.local import moto_batch_deferred  # noqa: F401  (before moto's interpreter loads)
from runner.local.stack import local_stack

__all__ = ["local_stack"]
