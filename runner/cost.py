"""What a run cost, and the most it may cost before it starts, at AWS's public list prices.

Prices come from the AWS Price List API (`pricing:GetProducts`, served from us-east-1, called with
the user's own credentials), cached on disk per region and item for a week. Where a price cannot
be known (the offline rehearsal, no permission, no network, no such product) the record says why
and leaves the amount out rather than guessing.

Products are picked as the Price List describes them: SageMaker (`AmazonSageMaker`) by
`regionCode` and `instanceName`, then the on-demand hourly price whose usage type names the
use (`...-Train:<type>` for training, `...-Tsform:<type>` for batch transform); Lambda
(`AWSLambda`) by the x86 `...Lambda-GB-Second` usage type; S3 (`AmazonS3`) by the Standard
`...TimedStorage-ByteHrs` usage type, first tier.

What is billed (AWS's billing rules, not modelled here: free tiers, Savings Plans, taxes):
- training: BillableTimeInSeconds x InstanceCount x the hourly price. With managed spot,
  BillableTimeInSeconds already carries the spot discount; the saving is
  (TrainingTimeInSeconds - BillableTimeInSeconds) x InstanceCount x the price.
- warm pool (KeepAlivePeriodInSeconds): DescribeTrainingJob's
  WarmPoolStatus.ResourceRetainedBillableTimeInSeconds x InstanceCount x the training price, once
  the pool has ended (Terminated, or Reused by another job); while it is still kept (Available) the
  retained time is not known yet, and the record says so.
- transform: (TransformEndTime - TransformStartTime) x InstanceCount x the hourly price.
- Lambda: each invocation's duration x memory (GB-seconds) x the GB-second price.
- S3: the run's bytes x the GB-month price, per month while they are kept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PRICING_REGION = "us-east-1"  # the Price List API's endpoint region for the whole world
CACHE_SECONDS = 7 * 24 * 3600
GB = 1024**3
# A batch transform job has no time limit of its own: the Batch transform state's TimeoutSeconds
# bounds it (then the state machine stops it); a definition without one counts this much.
TRANSFORM_ALLOWANCE_SECONDS = 3600
LOCAL_REASON = "the offline rehearsal runs on this machine: nothing is billed"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "training-pipeline" / "prices"


class PriceUnknown(Exception):
    """A price the Price List cannot give; the message says why, in one line."""


class _Refused(PriceUnknown):
    """No price can be had at all (credentials, network, permission): the next items are not asked."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One price to look up: a product family of a service, chosen by its usage type."""

    service: str
    filters: dict[str, str]
    usage_suffix: str  # the usage type ends with this (e.g. "-Train:ml.m5.xlarge")
    unit: str  # the price dimension's unit (Hrs, Lambda-GB-Second, GB-Mo)
    what: str  # for messages: "SageMaker training on ml.m5.xlarge"


def sagemaker_instance(region: str, instance_type: str, use: str) -> Item:
    marker = {"training": "Train", "transform": "Tsform"}[use]
    return Item(
        "AmazonSageMaker",
        {"regionCode": region, "instanceName": instance_type},
        f"-{marker}:{instance_type}",
        "Hrs",
        f"SageMaker {use} on {instance_type}",
    )


def lambda_duration(region: str) -> Item:
    return Item(
        "AWSLambda",
        {"regionCode": region, "group": "AWS-Lambda-Duration"},
        "Lambda-GB-Second",
        "Lambda-GB-Second",
        "Lambda duration (x86)",
    )


def s3_standard_storage(region: str) -> Item:
    return Item(
        "AmazonS3",
        {"regionCode": region, "volumeType": "Standard"},
        "TimedStorage-ByteHrs",
        "GB-Mo",
        "S3 Standard storage",
    )


class PriceList:
    """Prices in USD per unit from `pricing:GetProducts`, cached on disk."""

    def __init__(self, client: Any = None, cache_dir: Path | None = None, clock: Callable[[], float] = time.time):
        self._client = client
        self._cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self._clock = clock
        self._refused: str | None = None  # no credentials, network or permission: not asked again

    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            # A price is worth a few seconds, not a run's start: short timeouts, few retries.
            self._client = boto3.client(
                "pricing",
                region_name=PRICING_REGION,
                config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}),
            )
        return self._client

    def price(self, item: Item) -> float:
        cache = (
            self._cache_dir / item.filters["regionCode"] / f"{item.service}{item.usage_suffix}.json".replace(":", "_")
        )
        try:
            cached = json.loads(cache.read_text())
            if self._clock() - cached["fetched"] < CACHE_SECONDS:
                return float(cached["usd"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if self._refused:
            raise PriceUnknown(self._refused)
        try:
            usd = self._fetch(item)
        except _Refused as refused:
            self._refused = str(refused)
            raise
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"usd": usd, "fetched": self._clock(), "item": item.what}))
        except OSError:
            pass  # a cache that cannot be written only costs the next run another request
        return usd

    def _fetch(self, item: Item) -> float:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        filters = [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in item.filters.items()]
        request = {"ServiceCode": item.service, "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100}
        try:
            token = None
            while True:
                page = self.client().get_products(**request, **({"NextToken": token} if token else {}))
                for text in page.get("PriceList", []):
                    usd = _on_demand_price(json.loads(text), item)
                    if usd is not None:
                        return usd
                token = page.get("NextToken")
                if not token:
                    break
        except NoCredentialsError:
            raise _Refused("no AWS credentials to ask the Price List API") from None
        except EndpointConnectionError:
            raise _Refused(f"no network: cannot reach the Price List API in {PRICING_REGION}") from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
                raise _Refused(
                    "no permission: these credentials may not call pricing:GetProducts (allow it to see prices)"
                ) from None
            raise PriceUnknown(f"the Price List API refused the request: {code or error}") from None
        except BotoCoreError as error:
            raise PriceUnknown(f"cannot ask the Price List API: {error}") from None
        raise PriceUnknown(f"the Price List has no on-demand price for {item.what} in {item.filters['regionCode']}")


# Public on-demand list prices in USD, recorded by hand from AWS's pricing pages (the same in
# us-east-1 and us-west-2), for rehearsing --max-cost where the Price List API is not asked: the
# offline rehearsal refuses what AWS would. Not current prices: on AWS, run.py asks the Price List.
RECORDED_PRICES_NOTE = "prices recorded in runner/cost.py, not asked from the Price List API"
RECORDED_REGIONS = ("us-east-1", "us-west-2")
RECORDED_PRICES = {
    "-Train:ml.m5.large": 0.115,
    "-Train:ml.m5.xlarge": 0.23,
    "-Train:ml.m5.2xlarge": 0.461,
    "-Train:ml.m5.4xlarge": 0.922,
    "-Train:ml.c5.xlarge": 0.204,
    "-Train:ml.c5.2xlarge": 0.408,
    "-Tsform:ml.m5.large": 0.115,
    "-Tsform:ml.m5.xlarge": 0.23,
    "-Tsform:ml.m5.2xlarge": 0.461,
    "-Tsform:ml.m5.4xlarge": 0.922,
    "-Tsform:ml.c5.xlarge": 0.204,
    "-Tsform:ml.c5.2xlarge": 0.408,
    "Lambda-GB-Second": 0.0000166667,  # x86
    "TimedStorage-ByteHrs": 0.023,  # S3 Standard, first 50 TB, per GB-month
}


class RecordedPrices:
    """`PriceList`'s interface over RECORDED_PRICES, for the offline rehearsal's --max-cost."""

    def price(self, item: Item) -> float:
        region = item.filters["regionCode"]
        usd = RECORDED_PRICES.get(item.usage_suffix) if region in RECORDED_REGIONS else None
        if usd is None:
            recorded = sorted({suffix.split(":")[-1] for suffix in RECORDED_PRICES if ":" in suffix})
            raise PriceUnknown(
                f"no recorded price for {item.what} in {region} (the rehearsal's table holds "
                f"{', '.join(recorded)} in {' and '.join(RECORDED_REGIONS)})"
            )
        return usd


def _on_demand_price(product: dict, item: Item) -> float | None:
    usage = str(product.get("product", {}).get("attributes", {}).get("usagetype", ""))
    if not usage.endswith(item.usage_suffix):
        return None
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        dimensions = sorted(
            term.get("priceDimensions", {}).values(), key=lambda dimension: float(dimension.get("beginRange", 0) or 0)
        )
        for dimension in dimensions:  # the first tier
            if dimension.get("unit") == item.unit and "USD" in dimension.get("pricePerUnit", {}):
                return float(dimension["pricePerUnit"]["USD"])
    return None


# -- the records ----------------------------------------------------------------------------------


def _priced(prices: PriceList | None, item: Item, local: bool) -> tuple[float | None, str | None]:
    if local:
        return None, LOCAL_REASON
    try:
        return prices.price(item), None
    except PriceUnknown as error:
        return None, str(error)


def _usd(value: float) -> float:
    return round(value, 6)


def _warm_pool_part(pool: dict, instances: int, price: float | None, why: str | None, local: bool) -> dict:
    """The warm pool's retained billable time at the training instances' price."""
    seconds = pool.get("retained_billable_seconds")
    part = {
        "status": pool.get("status"),
        "retained_billable_seconds": seconds,
        "instances": instances,
        "price_per_hour": price,
        "usd": None,
        "unknown": why,
    }
    if pool.get("unknown"):
        part["unknown"] = pool["unknown"]
    elif seconds is None:
        if not local:  # the usual case right after a run: priced apart, the rest of the run is still known
            part["pending"] = True
            part["unknown"] = (
                f"the warm pool is still kept ({pool.get('status') or 'status unknown'}): its "
                "retained time is billed until it ends, and reported then"
            )
    elif price is not None:
        part["usd"] = _usd(seconds * instances * price / 3600)
    return part


def warm_pool(sagemaker, job_name: str) -> dict | None:
    """The training job's warm pool as DescribeTrainingJob reports it now (None: it kept none)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        status = sagemaker.describe_training_job(TrainingJobName=job_name).get("WarmPoolStatus")
    except (BotoCoreError, ClientError) as error:
        return {
            "status": None,
            "retained_billable_seconds": None,
            "unknown": f"cannot describe training job {job_name} for its warm pool: {error}",
        }
    if not isinstance(status, dict):
        return None
    seconds = status.get("ResourceRetainedBillableTimeInSeconds")
    return {
        "status": status.get("Status"),
        "retained_billable_seconds": seconds if type(seconds) is int and seconds >= 0 else None,
    }


def run_cost(
    *,
    region: str,
    training: dict,
    transform: dict,
    lambda_seconds: list[float],
    lambda_memory_mb: int,
    stored_bytes: int | None,
    prices: PriceList | None,
    local: bool = False,
    evaluation_seconds: float | None = None,
) -> dict:
    """The `cost` record of a finished run, from DescribeTrainingJob / DescribeTransformJob as
    the run's summary holds them (training_seconds, billable_seconds, instance_type, ...)."""
    record: dict[str, Any] = {"currency": "USD", "region": region}
    unknown: list[str] = []

    instances = int(training.get("instance_count") or 0)
    billable = training.get("billable_seconds")
    price, why = _priced(prices, sagemaker_instance(region, training.get("instance_type") or "", "training"), local)
    part = {
        "instance_type": training.get("instance_type"),
        "instances": instances,
        "training_seconds": training.get("training_seconds"),
        "billable_seconds": billable,
        "spot": bool(training.get("spot")),
        "price_per_hour": price,
        "usd": None,
        "spot_saving_usd": None,
        "unknown": why,
    }
    if training.get("job_name") is None and not local:  # never started: nothing billed
        part.update(usd=0.0, spot_saving_usd=0.0, unknown=None)
    elif price is not None and billable is not None:
        part["usd"] = _usd(billable * instances * price / 3600)
        seconds = training.get("training_seconds") or billable
        part["spot_saving_usd"] = _usd(max(0, seconds - billable) * instances * price / 3600) if part["spot"] else 0.0
    elif why is None:
        why = part["unknown"] = "the training job reported no billable time"
    record["training"] = part
    pool = training.get("warm_pool")
    if pool:
        record["warm_pool"] = _warm_pool_part(pool, instances, price, why, local)

    transform_seconds = transform.get("seconds")
    price, why_transform = _priced(
        prices, sagemaker_instance(region, transform.get("instance_type") or "", "transform"), local
    )
    part = {
        "instance_type": transform.get("instance_type"),
        "instances": int(transform.get("instance_count") or 0),
        "seconds": transform_seconds,
        "price_per_hour": price,
        "usd": None,
        "unknown": why_transform,
    }
    if transform.get("job_name") is None and not local:  # never started: nothing billed
        part.update(usd=0.0, unknown=None)
    elif price is not None and transform_seconds is not None:
        part["usd"] = _usd(transform_seconds * part["instances"] * price / 3600)
    elif why_transform is None:
        part["unknown"] = "the transform job reported no start or end time"
    record["transform"] = part

    gb_seconds = sum(lambda_seconds) * lambda_memory_mb / 1024
    price, why_lambda = _priced(prices, lambda_duration(region), local)
    record["lambda"] = {
        "invocations": len(lambda_seconds),
        "seconds": round(sum(lambda_seconds), 3),
        "memory_mb": lambda_memory_mb,
        "gb_seconds": round(gb_seconds, 3),
        # Of `seconds`, the Evaluate model state's (its share of the GB-seconds and price).
        "evaluation_seconds": round(evaluation_seconds, 3) if evaluation_seconds is not None else None,
        "price_per_gb_second": price,
        "usd": _usd(gb_seconds * price) if price is not None else None,
        "unknown": why_lambda,
    }

    price, why_s3 = _priced(prices, s3_standard_storage(region), local)
    if stored_bytes is None:
        why_s3 = "cannot list the run's objects under runs/<name>/"
    record["storage"] = {
        "bytes": stored_bytes,
        "price_per_gb_month": price,
        "usd_per_month": _usd(stored_bytes / GB * price) if price is not None and stored_bytes is not None else None,
        "unknown": why_s3,
    }

    # A warm pool still kept is left out of the total (its part says so), not a reason to void it.
    parts = [
        record[name]
        for name in ("training", "warm_pool", "transform", "lambda")
        if name in record and not record[name].get("pending")
    ]
    unknown = list(dict.fromkeys(part["unknown"] for part in parts if part["usd"] is None and part["unknown"]))
    record["total_usd"] = None if unknown else _usd(sum(part["usd"] for part in parts))
    record["unknown"] = unknown or None
    return record


@dataclasses.dataclass(frozen=True)
class RunLimits:
    """What bounds a run's bill, as the deployed definition sets it."""

    region: str
    training_instance_type: str
    training_instance_count: int
    training_seconds: int  # MaxRuntimeInSeconds, or MaxWaitTimeInSeconds for a spot job
    spot: bool
    transform_instance_type: str
    transform_instance_count: int
    warm_pool_seconds: int = 0  # KeepAlivePeriodInSeconds: the instances are kept, and billed, after the job
    transform_seconds: int = TRANSFORM_ALLOWANCE_SECONDS  # the Batch transform state's TimeoutSeconds

    @classmethod
    def from_definition(cls, definition: str | dict, region: str) -> RunLimits:
        """From the state machine's definition (DescribeStateMachine), so the bound is the deployed one."""
        from components.definition import TRAIN_STATE, TRANSFORM_STATE

        states = (json.loads(definition) if isinstance(definition, str) else definition)["States"]
        train = states[TRAIN_STATE]["Parameters"]
        transform_state = states[TRANSFORM_STATE]
        transform = transform_state["Parameters"]["TransformResources"]
        spot = bool(train.get("EnableManagedSpotTraining"))
        stopping = train["StoppingCondition"]
        return cls(
            region=region,
            training_instance_type=train["ResourceConfig"]["InstanceType"],
            training_instance_count=int(train["ResourceConfig"]["InstanceCount"]),
            training_seconds=int(stopping["MaxWaitTimeInSeconds"] if spot else stopping["MaxRuntimeInSeconds"]),
            spot=spot,
            transform_instance_type=transform["InstanceType"],
            transform_instance_count=int(transform["InstanceCount"]),
            warm_pool_seconds=int(train["ResourceConfig"].get("KeepAlivePeriodInSeconds", 0)),
            transform_seconds=int(transform_state.get("TimeoutSeconds", TRANSFORM_ALLOWANCE_SECONDS)),
        )


def worst_case(limits: RunLimits, prices: PriceList | RecordedPrices | None, *, local: bool = False) -> dict:
    """The most a run can cost: training for its whole MaxRuntimeInSeconds (a spot job: its
    MaxWaitTimeInSeconds, the bound including restarts) on every instance at the on-demand price,
    the warm pool's whole keep-alive period on every instance, the transform state's whole timeout
    on every instance, every Lambda attempt (validation, seeding, evaluation) at its function's timeout."""
    from components import lambda_functions

    lines = []
    unknown = []
    for what, item, quantity in (
        (
            "training",
            sagemaker_instance(limits.region, limits.training_instance_type, "training"),
            limits.training_seconds * limits.training_instance_count / 3600,
        ),
        (
            "warm pool",
            sagemaker_instance(limits.region, limits.training_instance_type, "training"),
            limits.warm_pool_seconds * limits.training_instance_count / 3600,
        ),
        (
            "transform",
            sagemaker_instance(limits.region, limits.transform_instance_type, "transform"),
            limits.transform_seconds * limits.transform_instance_count / 3600,
        ),
        ("lambda", lambda_duration(limits.region), lambda_functions.WORST_SECONDS * lambda_functions.MEMORY_MB / 1024),
    ):
        price, why = _priced(prices, item, local)
        lines.append(
            {
                "part": what,
                "quantity": round(quantity, 6),
                "unit": item.unit,
                "price": price,
                "usd": _usd(quantity * price) if price is not None else None,
            }
        )
        if why and why not in unknown:
            unknown.append(why)
    return {
        "currency": "USD",
        "usd": None if unknown else _usd(sum(line["usd"] for line in lines)),
        "training_seconds": limits.training_seconds,
        "warm_pool_seconds": limits.warm_pool_seconds,
        "transform_seconds": limits.transform_seconds,
        "spot": limits.spot,
        "parts": lines,
        "prices": "recorded" if isinstance(prices, RecordedPrices) else None,
        "unknown": unknown or None,
    }


def describe(record: dict) -> str:
    """One line for the terminal: the run's cost, or why it is not known."""
    if record.get("unknown") == [LOCAL_REASON]:
        return "cost: none (the offline rehearsal runs on this machine: nothing is billed)"
    if record.get("total_usd") is None:
        return f"cost: unknown ({'; '.join(record.get('unknown') or ['no price'])})"
    training = record["training"]
    saving = f", spot saved ${training['spot_saving_usd']:.4f}" if training.get("spot") else ""
    storage = record["storage"].get("usd_per_month")
    kept = f"; storage ${storage:.6f}/month while kept" if storage is not None else ""
    pool = record.get("warm_pool")
    pool = (
        ""
        if not pool
        else (
            f", warm pool not included: {pool['unknown']}" if pool.get("pending") else f", warm pool ${pool['usd']:.4f}"
        )
    )
    return (
        f"cost: ${record['total_usd']:.4f} (training ${training['usd']:.4f}{saving}{pool}, transform "
        f"${record['transform']['usd']:.4f}, Lambda ${record['lambda']['usd']:.6f}){kept}"
    )


def describe_worst_case(record: dict) -> str:
    recorded = f" at {RECORDED_PRICES_NOTE}" if record.get("prices") == "recorded" else ""
    if record.get("usd") is None:
        return f"worst case{recorded}: unknown ({'; '.join(record.get('unknown') or ['no price'])})"
    warm = f", a warm pool kept {record['warm_pool_seconds']} s after it" if record.get("warm_pool_seconds") else ""
    return (
        f"worst case{recorded}: ${record['usd']:.2f} (training {record['training_seconds']} s on every instance{warm}, "
        f"transform {record.get('transform_seconds', TRANSFORM_ALLOWANCE_SECONDS)} s, every Lambda attempt at "
        "its timeout)"
    )


# -- from a followed execution ---------------------------------------------------------------------


def _epoch_seconds(value: Any) -> float | None:
    """A Describe timestamp as Step Functions hands it on (epoch milliseconds) or ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1000.0
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def stored_bytes(s3, bucket: str, name: str) -> int | None:
    """The bytes the run keeps under runs/<name>/; None when they cannot be listed."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lambda_src import bucket_layout

    if s3 is None:  # no client to list with
        return None
    total = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=bucket_layout.run_prefix(name)):
            total += sum(item["Size"] for item in page.get("Contents", []))
    except (BotoCoreError, ClientError):
        return None
    return total


def execution_cost(
    view, summary: dict, *, region: str, bytes_kept: int | None, prices: PriceList | None, local: bool, sagemaker=None
) -> dict:
    """The `cost` record of a followed execution (runner.follow.ExecutionView) and its summary.
    Lambda time is each Lambda state's time from entry to exit (validation, seeding, evaluation): an
    upper bound of its billed duration.
    A training job that kept a warm pool is described again (with `sagemaker`) for its retained time."""
    from components import lambda_functions
    from components.definition import EVALUATE_STATE, GENERATE_STATE, PREPARE_STATE, VALIDATE_STATE

    training_task = next((s for s in reversed(view.states) if s.resource.startswith("createTrainingJob")), None)
    transform_task = next((s for s in reversed(view.states) if s.resource.startswith("createTransformJob")), None)
    training = {
        **summary.get("training", {}),
        "spot": bool(training_task and training_task.parameters.get("EnableManagedSpotTraining")),
    }
    keep_alive = (
        (training_task.parameters.get("ResourceConfig") or {}).get("KeepAlivePeriodInSeconds")
        if training_task and isinstance(training_task.parameters, dict)
        else None
    )
    if keep_alive and training.get("job_name") and sagemaker is not None:
        training["warm_pool"] = warm_pool(sagemaker, training["job_name"])
    described = transform_task.result if transform_task and isinstance(transform_task.result, dict) else {}
    began, ended = (
        _epoch_seconds(described.get("TransformStartTime")),
        _epoch_seconds(described.get("TransformEndTime")),
    )
    transform = {
        **summary.get("transform", {}),
        "seconds": round(ended - began, 3) if began is not None and ended is not None else None,
    }
    functions = {VALIDATE_STATE, GENERATE_STATE, PREPARE_STATE, EVALUATE_STATE}
    lambda_seconds = [
        (state.exited - state.entered).total_seconds()
        for state in view.states
        if state.name in functions and state.exited is not None
    ]
    evaluated = [
        (state.exited - state.entered).total_seconds()
        for state in view.states
        if state.name == EVALUATE_STATE and state.exited is not None
    ]
    return run_cost(
        region=region,
        training=training,
        transform=transform,
        lambda_seconds=lambda_seconds,
        lambda_memory_mb=lambda_functions.MEMORY_MB,
        stored_bytes=bytes_kept,
        prices=prices,
        local=local,
        evaluation_seconds=sum(evaluated) if evaluated else None,
    )
