"""The offline rehearsal: the pipeline's stack on an in-process AWS emulator (moto) with real XGBoost.

One small module per concern:
  stack.py                `local_stack(settings)`: host moto, deploy the program, yield the stack outputs
  preflight.py            what a run is checked against before the deployment: refusals, the outputs to expect
  engine.py               the engine double: `__main__.py` under Pulumi mocks, resources created in moto
  iam.py                  each principal under its role's deployed policies; the least-privilege report
  lambda_runtime.py       Lambda Invoke runs the function's deployed package in-process
  sagemaker_jobs.py       SageMaker training/transform jobs run in background threads
  image_environments.py   each SageMaker XGBoost image's Python environment (.image-envs/<version>)
  container_pool.py       container processes (runner/container) in an image's environment, warm in run.py serve
  sagemaker_hosts.py      a training job's hosts: /opt/ml laid out per host, one container process each
  sagemaker_serving.py    a transform's mini-batches, answered by a serving container process
  sfn_sagemaker.py        the Step Functions SageMaker integration (.sync) for moto's interpreter
  sfn_fail_state.py       a Fail state re-raises a caught States.* error, as AWS Step Functions does
  sfn_definition_parse.py a definition is parsed once for its creation and first execution
  sfn_execution_end.py    the run script's follower wakes when an execution ends, not at its next poll
  moto_batch_deferred.py  moto's Batch (and EC2) models load only if a state machine uses Batch
  service_models.py       each AWS service model is parsed once per process, not once per session
  python_ast.py           ast.parse one call at a time (CPython 3.11's AST constructor is not thread-safe)
"""

from runner.local import moto_batch_deferred  # noqa: F401  (before moto's interpreter loads)
from runner.local import python_ast

python_ast.install()

__all__ = ["DeployError", "local_stack"]


def __getattr__(name: str):
    """The stack (moto, boto3, Pulumi: about 0.8 s) loads on first use, so that what needs only
    the preflight checks does not pay for it."""
    if name in __all__:
        from runner.local import stack
        return getattr(stack, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
