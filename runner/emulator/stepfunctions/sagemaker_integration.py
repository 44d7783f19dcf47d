"""A SageMaker service integration for moto's Step Functions interpreter (`.sync` included).

moto's interpreter (vendored from LocalStack) lists "sagemaker" among its unsupported
services. `installed()` makes its task factory build `StateTaskServiceSageMaker` for
`arn:aws:states:::sagemaker:*` resources, modelled on its Glue service:

- createTrainingJob / createTransformJob (request-response or `.sync`) and createModel call
  the emulator's SageMaker through boto3 (`boto_client_for`, as the Glue service does);
- `.sync` returns the DescribeTrainingJob / DescribeTransformJob response once the job is
  terminal, with timestamps as epoch milliseconds (JSON-safe, as Step Functions shows them);
  a Failed or Stopped job raises States.TaskFailed with that response (JSON) as the cause;
- a SageMaker API error is named as Step Functions names it: `SageMaker.<Code>Exception` for
  SageMaker's modelled errors (e.g. SageMaker.ResourceInUseException), otherwise
  `SageMaker.AmazonSageMakerException` (throttling and validation errors alike).

Given an `AccessControl` (runner.emulator.iam), the tasks act as the state machine's role:
the SageMaker calls (and the Lambda invokes of the interpreter's own Lambda tasks) are made
with that role's credentials, and a `.sync` task first checks `events:PutRule`,
`events:PutTargets` and `events:DescribeRule` on the managed rule Step Functions keeps for it;
refused, the task fails with States.TaskFailed naming the action.

The interpreter's own Lambda tasks name a Lambda API error ("Exception" in moto) as Step
Functions does: `Lambda.<Code>` for Lambda's modelled errors, otherwise
`Lambda.AWSLambdaException` (an AccessDeniedException among them), with the cause AWS gives.

Waiting does not poll on a fixed 0.5 s tick: the resolver blocks on the local job's
completion event (`LocalSageMaker.wait`) in bounded slices, re-checking that the execution
is still running; when it is stopped, the job is asked to stop too. When the state's own
TimeoutSeconds ends the wait (moto's interpreter fails it with States.Timeout), the job runs on:
AWS documents no cancel for that case, so the definition stops the job itself.

Patched moto internals:
  moto/stepfunctions/parser/asl/component/state/exec/state_task/state_task_factory.py:
  the module-level name `state_task_service_for` (imported there from
  .../service/state_task_service_factory.py, whose _UNSUPPORTED_SERVICE_NAMES holds "sagemaker");
  with an access control, `boto_client_for` in lambda_eval_utils.py and in
  .../service/state_task_service_aws_sdk.py.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import (
    StateCredentials,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from runner.emulator.sagemaker.jobs import TRAINING, TRANSFORM, LocalSageMaker

SERVICE_NAME: Final = "sagemaker"
WAIT_SLICE_SECONDS: Final = 0.5
_SYNC, _REQUEST = ResourceCondition.Sync, None
# lower-cased API action -> integration patterns Step Functions offers for it
_ACTIONS: Final[dict[str, set]] = {
    "createtrainingjob": {_REQUEST, _SYNC},
    "createtransformjob": {_REQUEST, _SYNC},
    "createmodel": {_REQUEST},
}
# lower-cased action -> (job kind, name parameter, describe method, status key)
_SYNC_JOBS: Final = {
    "createtrainingjob": (TRAINING, "TrainingJobName", "describe_training_job", "TrainingJobStatus"),
    "createtransformjob": (TRANSFORM, "TransformJobName", "describe_transform_job", "TransformJobStatus"),
}
_TERMINAL: Final = {"Completed", "Failed", "Stopped"}
# The managed EventBridge rule Step Functions keeps per .sync job kind.
_SYNC_RULES: Final = {
    "createtrainingjob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "createtransformjob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
}


# SageMaker's modelled exceptions (botocore's sagemaker service model), named by Step Functions
# after the exception class; every other API error is SageMaker.AmazonSageMakerException.
_MODELLED_ERRORS: Final = ("ConflictException", "ResourceInUse", "ResourceLimitExceeded", "ResourceNotFound")


def lambda_error_name(code: str) -> str:
    """The error name Step Functions gives a Lambda API error code."""
    global _LAMBDA_ERRORS
    if _LAMBDA_ERRORS is None:
        import botocore.session

        model = botocore.session.get_session().get_service_model("lambda")
        _LAMBDA_ERRORS = frozenset(shape.name for shape in model.error_shapes)
    return f"Lambda.{code}" if code in _LAMBDA_ERRORS else "Lambda.AWSLambdaException"


_LAMBDA_ERRORS: frozenset | None = None


def sfn_error_name(code: str) -> str:
    """The error name Step Functions gives a SageMaker API error code."""
    if code in _MODELLED_ERRORS:
        return f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"
    return "SageMaker.AmazonSageMakerException"


def to_json_value(value: Any) -> Any:
    """A boto3 response made JSON-safe: datetimes become epoch milliseconds, as in Step Functions."""
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json_value(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp() * 1000)
    return value


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    """`arn:aws:states:::sagemaker:<action>[.sync]` on the emulator."""

    # Set by `installed()`: the local jobs to wait on (None: plain polling), the access control.
    jobs: LocalSageMaker | None = None
    access = None

    def __init__(self):
        super().__init__(supported_integration_patterns={_SYNC})

    def _get_supported_parameters(self) -> set[str] | None:
        # Any non-None value passes moto's definition-time check; None fails it with
        # "The resource provided ... not recognized", as AWS refuses e.g. createModel.sync.
        patterns = _ACTIONS.get(self.resource.api_action.lower())
        if patterns is None or self.resource.condition not in patterns:
            return None
        return set()

    def _client(self, runtime: ResourceRuntimePart, credentials: StateCredentials):
        return _client_for(region=runtime.region, service=SERVICE_NAME, state_credentials=credentials)

    def _check_sync_rule(self, env: Environment, runtime: ResourceRuntimePart, credentials: StateCredentials) -> None:
        """Step Functions puts and describes the managed rule of a .sync job as the state machine role."""
        access = StateTaskServiceSageMaker.access
        rule = _SYNC_RULES.get(self.resource.api_action.lower())
        if access is None or rule is None or self.resource.condition != _SYNC:
            return
        from runner.emulator.iam import AccessDenied

        principal = access.principal(credentials.role_arn, "StepFunctions")
        arn = f"arn:{access.partition}:events:{runtime.region}:{runtime.account}:rule/{rule}"
        try:
            for action in ("events:PutRule", "events:PutTargets", "events:DescribeRule"):
                access.authorize(principal, action, arn)
        except AccessDenied as denied:
            raise self._task_failed(env, str(denied)) from None

    def _task_failed(self, env: Environment, cause: str) -> FailureEventException:
        """States.TaskFailed with `cause`, as Step Functions reports a failed task."""
        return FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(),
                        cause=cause,
                    )
                ),
            )
        )

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            error = ex.response.get("Error", {})
            code = error.get("Code", "Unknown")
            name = sfn_error_name(code)
            metadata = ex.response.get("ResponseMetadata", {})
            cause = (
                f"{error.get('Message', '')} (Service: AmazonSageMaker; Status Code: "
                f"{metadata.get('HTTPStatusCode', 400)}; Error Code: {code}; Request ID: "
                f"{metadata.get('RequestId', '')}; Proxy: null)"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=name,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ):
        self._check_sync_rule(env, resource_runtime_part, state_credentials)
        client = self._client(resource_runtime_part, state_credentials)
        call = getattr(client, self._get_boto_service_action())
        response = call(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(to_json_value(response))

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> Callable[[], Any]:
        env.stack.pop()  # the Create response; .sync outputs the Describe response instead
        kind, name_key, describe_name, status_key = _SYNC_JOBS[self.resource.api_action.lower()]
        name = normalised_parameters[name_key]
        describe = getattr(self._client(resource_runtime_part, state_credentials), describe_name)
        jobs = StateTaskServiceSageMaker.jobs

        def resolver() -> Any | None:
            # Returns the terminal Describe response, or None once the execution stops.
            while env.is_running():
                response = describe(**{name_key: name})
                response.pop("ResponseMetadata", None)
                status = response.get(status_key)
                if status in _TERMINAL:
                    return self._outcome(env, to_json_value(response), status)
                if jobs is not None:
                    jobs.wait(kind, name, WAIT_SLICE_SECONDS)
                else:
                    time.sleep(WAIT_SLICE_SECONDS)
            # AWS documents cancelling a .sync job when the execution is stopped (or a Parallel
            # branch or Map iteration fails); not when the state's own TimeoutSeconds ends it
            # (the frame's ProgramEnded): then the job runs on, as the definition must expect.
            timed_out = isinstance(env.program_state(), ProgramEnded)
            if (
                jobs is not None
                and not timed_out
                and self._may_stop(resource_runtime_part, state_credentials, kind, name)
            ):
                jobs.request_stop(kind, name)
            return None

        return resolver

    def _may_stop(self, runtime: ResourceRuntimePart, credentials: StateCredentials, kind: str, name: str) -> bool:
        """Step Functions stops the job as the state machine role (StopTrainingJob, ...); refused,
        the job runs on (moto has no Stop* API, so this is the check alone)."""
        access = StateTaskServiceSageMaker.access
        if access is None:
            return True
        action = "sagemaker:StopTrainingJob" if kind == TRAINING else "sagemaker:StopTransformJob"
        arn = f"arn:{access.partition}:sagemaker:{runtime.region}:{runtime.account}:{kind}/{name.lower()}"
        principal = access.principal(credentials.role_arn, "StepFunctions")
        return access.authorize(principal, action, arn, best_effort=True).allowed

    def _outcome(self, env: Environment, response: dict, status: str) -> dict:
        if status == "Completed":
            return response
        raise self._task_failed(env, to_json_str(response))

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict,
        state_credentials: StateCredentials,
    ) -> None:
        # Replaces StateTaskServiceCallback's version, whose `finally:` calls
        # `callback_endpoint.interrupt_all()` on a None endpoint for services without
        # .waitForTaskToken (an AttributeError that would mask every .sync outcome), and whose
        # loop sleeps a fixed 0.5 s between resolver calls.
        resolver = self._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        outcome = resolver()
        env.stack.append(outcome)


def _client_for(region: str, service: str, state_credentials: Any = None):
    """The interpreter's client for a task: the state machine role's, given an access control."""
    access = StateTaskServiceSageMaker.access
    if access is None or state_credentials is None:
        return boto_client_for(region=region, service=service, state_credentials=state_credentials)
    return access.client(service, access.principal(state_credentials.role_arn, "StepFunctions"), region)


@contextlib.contextmanager
def installed(jobs: LocalSageMaker | None = None, access=None) -> Iterator[None]:
    """Route `sagemaker` service tasks to StateTaskServiceSageMaker while the block runs.

    With `access` (runner.emulator.iam.AccessControl), the interpreter's Lambda tasks invoke with
    the state machine role's client too (moto's `lambda_eval_utils.boto_client_for`), and so do
    its AWS SDK tasks (the definition's Stop training job / Stop transform job).
    """
    original = state_task_factory.state_task_service_for
    original_lambda_client = lambda_eval_utils.boto_client_for
    original_sdk_client = state_task_service_aws_sdk.boto_client_for

    def state_task_service_for(service_name: str):
        if service_name == SERVICE_NAME:
            return StateTaskServiceSageMaker()
        return original(service_name=service_name)

    original_lambda_error = StateTaskLambda.__dict__["_from_error"]

    def lambda_from_error(task, env: Environment, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return original_lambda_error(task, env, ex)
        error = ex.response.get("Error", {})
        code = error.get("Code", "Unknown")
        metadata = ex.response.get("ResponseMetadata", {})
        name = lambda_error_name(code)
        cause = (
            f"{error.get('Message', '')} (Service: AWSLambda; Status Code: "
            f"{metadata.get('HTTPStatusCode', 400)}; Error Code: {code}; Request ID: "
            f"{metadata.get('RequestId', '')}; Proxy: null)"
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(name),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=(LambdaFunctionFailedEventDetails(error=name, cause=cause))
            ),
        )

    state_task_factory.state_task_service_for = state_task_service_for
    StateTaskServiceSageMaker.jobs = jobs
    StateTaskServiceSageMaker.access = access
    StateTaskLambda._from_error = lambda_from_error
    if access is not None:
        lambda_eval_utils.boto_client_for = _client_for
        state_task_service_aws_sdk.boto_client_for = _client_for  # aws-sdk:sagemaker:stop*Job
    try:
        yield
    finally:
        state_task_factory.state_task_service_for = original
        StateTaskLambda._from_error = original_lambda_error
        lambda_eval_utils.boto_client_for = original_lambda_client
        state_task_service_aws_sdk.boto_client_for = original_sdk_client
        StateTaskServiceSageMaker.jobs = None
        StateTaskServiceSageMaker.access = None
