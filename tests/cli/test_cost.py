"""runner.cost: prices from the Price List API (stubbed with botocore's Stubber, so every request is
checked against the Pricing model), the cost record, the unknown-price paths, the worst case."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError
from price_list import LAMBDA, M5, M5_PRODUCTS, REGION, S3, SAGEMAKER_M5, TRAINING, TRANSFORM, _product

from components.settings import PipelineSettings
from runner import cost


def _settings(**config) -> PipelineSettings:
    return PipelineSettings.from_config(config.get, stack="dev", region=REGION)


def _limits(**config) -> cost.RunLimits:
    """The limits the deployed definition of a stack with this config holds."""
    from definition_target import TARGET

    from components.definition import render_definition

    return cost.RunLimits.from_definition(render_definition(_settings(**config), **TARGET), REGION)


def test_the_cost_record_from_list_prices(pricing, tmp_path):
    client, stubber = pricing
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    stubber.add_response(
        "get_products",
        {
            "FormatVersion": "aws_v1",
            "PriceList": [
                _product("USW2-Lambda-GB-Second-ARM", "0.0000133334", "Lambda-GB-Second"),
                _product("USW2-Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second"),
            ],
        },
        LAMBDA,
    )
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [_product("USW2-TimedStorage-ByteHrs", "0.0230000000", "GB-Mo")]},
        S3,
    )
    prices = cost.PriceList(client, cache_dir=tmp_path)
    record = cost.run_cost(
        region=REGION,
        training=TRAINING,
        transform=TRANSFORM,
        lambda_seconds=[0.5, 1.5],
        lambda_memory_mb=2048,
        stored_bytes=cost.GB // 2,
        prices=prices,
    )
    assert record["training"]["price_per_hour"] == 0.2304  # Train:, not Host: nor the -Spot usage type
    assert record["training"]["usd"] == round(100 * 2 * 0.2304 / 3600, 6)
    assert record["training"]["spot_saving_usd"] == round(400 * 2 * 0.2304 / 3600, 6)
    assert record["transform"]["usd"] == round(360 * 0.231 / 3600, 6)
    assert record["lambda"]["gb_seconds"] == 4.0 and record["lambda"]["usd"] == round(4 * 0.0000166667, 6)
    assert record["storage"]["usd_per_month"] == round(0.5 * 0.023, 6)
    assert record["total_usd"] == round(
        record["training"]["usd"] + record["transform"]["usd"] + record["lambda"]["usd"], 6
    )
    assert record["unknown"] is None
    assert cost.describe(record).startswith(f"cost: ${record['total_usd']:.4f} (training ")


def test_prices_are_cached_per_region_and_item(pricing, tmp_path):
    client, stubber = pricing
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    item = cost.sagemaker_instance(REGION, M5, "training")
    assert cost.PriceList(client, cache_dir=tmp_path).price(item) == 0.2304
    assert cost.PriceList(client, cache_dir=tmp_path).price(item) == 0.2304  # no second request
    assert (tmp_path / REGION).is_dir()
    stale = cost.PriceList(client, cache_dir=tmp_path, clock=lambda: 10**12)
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    assert stale.price(item) == 0.2304  # a week old: asked again


def test_pages_are_followed(pricing, tmp_path):
    client, stubber = pricing
    stubber.add_response(
        "get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS[:1], "NextToken": "t"}, SAGEMAKER_M5
    )
    stubber.add_response(
        "get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, {**SAGEMAKER_M5, "NextToken": "t"}
    )
    assert cost.PriceList(client, cache_dir=tmp_path).price(cost.sagemaker_instance(REGION, M5, "transform")) == 0.231


def test_no_permission_is_a_reason_not_a_guess(pricing, tmp_path):
    client, stubber = pricing
    stubber.add_client_error("get_products", "AccessDeniedException", "not authorized", 400)  # asked once
    record = cost.run_cost(
        region=REGION,
        training=TRAINING,
        transform=TRANSFORM,
        lambda_seconds=[1.0],
        lambda_memory_mb=1769,
        stored_bytes=10,
        prices=cost.PriceList(client, cache_dir=tmp_path),
    )
    assert record["total_usd"] is None and record["training"]["usd"] is None
    assert record["unknown"] == [
        "no permission: these credentials may not call pricing:GetProducts (allow it to see prices)"
    ]
    assert cost.describe(record).startswith("cost: unknown (no permission: ")


def test_an_unknown_product_says_which(pricing, tmp_path):
    client, stubber = pricing
    stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS[:1]}, SAGEMAKER_M5)
    with pytest.raises(cost.PriceUnknown, match=f"no on-demand price for SageMaker training on {M5} in {REGION}"):
        cost.PriceList(client, cache_dir=tmp_path).price(cost.sagemaker_instance(REGION, M5, "training"))


def test_no_network_and_the_rehearsal(tmp_path):
    class Offline:
        def get_products(self, **request):
            raise EndpointConnectionError(endpoint_url="https://pricing.us-east-1.amazonaws.com/")

    with pytest.raises(cost.PriceUnknown, match="^no network: cannot reach the Price List API in us-east-1$"):
        cost.PriceList(Offline(), cache_dir=tmp_path).price(cost.lambda_duration(REGION))
    local = cost.run_cost(
        region=REGION,
        training=TRAINING,
        transform=TRANSFORM,
        lambda_seconds=[1.0],
        lambda_memory_mb=1769,
        stored_bytes=10,
        prices=None,
        local=True,
    )
    assert local["unknown"] == [cost.LOCAL_REASON] and local["storage"]["unknown"] == cost.LOCAL_REASON
    assert not any(tmp_path.iterdir())


def test_the_worst_case_bounds_training_by_max_runtime_or_the_spot_wait(pricing, tmp_path):
    client, stubber = pricing
    for _ in range(2):
        stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    stubber.add_response(
        "get_products",
        {
            "FormatVersion": "aws_v1",
            "PriceList": [_product("USW2-Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second")],
        },
        LAMBDA,
    )
    prices = cost.PriceList(client, cache_dir=tmp_path)
    on_demand = cost.worst_case(_limits(trainingInstanceCount=2), prices)
    training, warm_pool, transform, seeding = on_demand["parts"]
    assert training["usd"] == round(3600 * 2 / 3600 * 0.2304, 6)
    assert warm_pool["usd"] == 0.0
    assert transform["usd"] == round(0.231, 6)
    assert seeding["quantity"] == round(6 * (60 + 900 + 900) * 1769 / 1024, 6)  # validation, seeding, evaluation
    assert on_demand["usd"] == round(training["usd"] + transform["usd"] + seeding["usd"], 6)
    # A warm pool keeps (and bills) every training instance for its keep-alive period after the job.
    warm = cost.worst_case(_limits(trainingInstanceCount=2, warmPoolSeconds="1800"), prices)
    assert warm["parts"][1]["usd"] == round(1800 * 2 / 3600 * 0.2304, 6)
    assert warm["usd"] == round(on_demand["usd"] + warm["parts"][1]["usd"], 6)
    assert "a warm pool kept 1800 s after it" in cost.describe_worst_case(warm)
    spot = cost.worst_case(_limits(spotTraining="true", maxWaitSeconds="7200"), prices)  # cached prices
    assert spot["training_seconds"] == 7200 and spot["parts"][0]["usd"] == round(2 * 0.2304, 6)
    assert cost.describe_worst_case(spot).startswith(f"worst case: ${spot['usd']:.2f} (training 7200 s")
    # The transform is bounded by its state's TimeoutSeconds (then stopped), read from the definition.
    bounded = cost.worst_case(_limits(transformTimeoutSeconds="1800"), prices)
    assert bounded["transform_seconds"] == 1800 and bounded["parts"][2]["usd"] == round(0.5 * 0.231, 6)
    assert "transform 1800 s," in cost.describe_worst_case(bounded)
    assert cost.worst_case(_limits(), prices)["transform_seconds"] == 3600  # the default


def test_jobs_that_never_started_cost_nothing(pricing, tmp_path):
    client, stubber = pricing
    for _ in range(2):
        stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    stubber.add_response(
        "get_products",
        {
            "FormatVersion": "aws_v1",
            "PriceList": [_product("USW2-Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second")],
        },
        LAMBDA,
    )
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [_product("USW2-TimedStorage-ByteHrs", "0.0230000000", "GB-Mo")]},
        S3,
    )
    # The input was refused: no training, no transform, one seeding invocation.
    record = cost.run_cost(
        region=REGION,
        training={"job_name": None, "instance_type": M5, "instance_count": 1},
        transform={"job_name": None, "instance_type": M5, "instance_count": 1, "seconds": None},
        lambda_seconds=[0.2],
        lambda_memory_mb=1024,
        stored_bytes=0,
        prices=cost.PriceList(client, cache_dir=tmp_path),
    )
    assert record["training"]["usd"] == record["transform"]["usd"] == 0.0
    assert record["total_usd"] == round(0.2 * 0.0000166667, 6) and record["unknown"] is None
