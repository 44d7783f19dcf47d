"""AWS's own limits and partitions, met before `pulumi up` meets them: the seeding role's policy size,
the ISO partitions, the warm pool's keep-alive bound, keeping the bucket's data on destroy."""

from __future__ import annotations

import json
import re

import pytest
from pulumi_mocks import run_program

from components import seed_policy
from components.settings import PipelineSettings, SettingsError

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning")

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def settings_with(region: str = "us-west-2", **config) -> PipelineSettings:
    return PipelineSettings.from_config(config.get, stack="dev", region=region)


def seed_policy_text(result) -> str:
    """The seeding role's inline policy as the program handed it to IAM."""
    role = result.one(ROLE, "training-pipeline-seed-role")
    [policy] = [p for p in result.of_type(ROLE_POLICY) if p.inputs["role"] == role.outputs["name"]]
    return policy.inputs["policy"]


def iam_characters(document: str) -> int:
    """IAM quotas count a policy's characters without its white space."""
    return len(re.sub(r"\s", "", document))


# --- 13: the seeding role's inline policy stays under IAM's 10,240 characters ------------------


def _sources(count: int) -> list[str]:
    """Each in a bucket of its own, the costliest kind of location (one listing statement each)."""
    return [f"s3://data-{index:04d}/x/" for index in range(count)]


def test_the_most_data_sources_the_settings_accept_fit_the_seeding_roles_policy():
    accepted = 0
    for count in range(1, 400):
        try:
            settings_with(dataSources=_sources(count))
        except SettingsError as error:
            assert str(error).startswith(f"dataSources: {count} locations make the seeding role's policy up to ")
            assert "more than the 10,240 IAM allows a role's inline policies" in str(error)
            assert "\n" not in str(error)
            break
        accepted = count
    assert 40 <= accepted < 399  # about 30 fitted before the policy was compacted
    at_bound = run_program({"dataSources": _sources(accepted)})
    assert at_bound.error is None, at_bound.error
    document = seed_policy_text(at_bound)
    assert iam_characters(document) <= seed_policy.ROLE_POLICY_CHARACTERS
    # The settings measured the longest ARNs the stack could get: never less than the real thing.
    assert iam_characters(document) <= seed_policy.longest_seed_policy_characters(
        "aws", "us-west-2", _sources(accepted)
    )
    reads = [s for s in json.loads(document)["Statement"] if s["Action"] == "s3:GetObject"]
    granted = {
        resource
        for statement in reads
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    assert {f"arn:aws:s3:::data-{index:04d}/x/*" for index in range(accepted)} <= granted

    over = run_program({"dataSources": _sources(accepted + 1)})
    assert over.error is not None and "dataSources:" in str(over.error) and "IAM allows" in str(over.error)
    assert not over.of_type(ROLE_POLICY)  # refused before any resource


def test_locations_in_one_bucket_share_one_listing_statement_with_their_prefixes_or_ed():
    """IAM ORs the values of one condition key: one statement lists the bucket under any of its
    locations' prefixes, and under no other; a whole-bucket location lists it unconditioned."""
    statements = seed_policy.data_source_statements(
        "aws", ["s3://team-data/a/", "s3://team-data/b/c/", "s3://other/", "s3://other/d/"]
    )
    assert [(s.actions, s.resources, s.conditions) for s in statements] == [
        (
            ("s3:GetObject",),
            (
                "arn:aws:s3:::team-data/a/*",
                "arn:aws:s3:::team-data/b/c/*",
                "arn:aws:s3:::other/*",
                "arn:aws:s3:::other/d/*",
            ),
            (),
        ),
        (("s3:ListBucket",), ("arn:aws:s3:::team-data",), (("StringLike", "s3:prefix", ("a/*", "b/c/*")),)),
        (("s3:ListBucket",), ("arn:aws:s3:::other",), ()),
    ]


def test_the_measure_is_the_rendered_policy_without_white_space():
    result = run_program({"dataSources": ["s3://team-data/a/", "s3://team-data/b/", "s3://other/"]})
    assert result.error is None, result.error
    document = seed_policy_text(result)
    role_arn_parts = json.loads(document)["Statement"]
    bucket_arn = next(s["Resource"] for s in role_arn_parts if s["Sid"] == "ListRunPrefixes")
    log_group_arn = next(s["Resource"] for s in role_arn_parts if s["Sid"] == "WriteOwnLogs").removesuffix(":*")
    measured = seed_policy.policy_characters(
        seed_policy.seed_statements(
            bucket_arn, log_group_arn, ["s3://team-data/a/", "s3://team-data/b/", "s3://other/"]
        )
    )
    assert measured == iam_characters(document)


# --- 14: the ISO partitions, where SageMaker's image table has XGBoost ------------------------


def _iso_regions() -> list[str]:
    from components.images import image_table

    return sorted(region for region in image_table()["versions"]["3.2-0"]["registries"] if "-iso" in region)


@pytest.mark.parametrize(
    "region, partition, dns_suffix",
    [("us-iso-east-1", "aws-iso", "c2s.ic.gov"), ("us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov")],
)
def test_an_iso_region_deploys_with_its_partition_in_every_arn(region, partition, dns_suffix):
    assert region in _iso_regions()  # the SDK's image table has the XGBoost image there
    result = run_program(region=region)
    assert result.error is None, result.error
    image = result.outputs["trainingImage"]
    registry = image.split(".")[0]
    assert image == f"{registry}.dkr.ecr.{region}.{dns_suffix}/sagemaker-xgboost:3.2-0"  # the default image
    for name, document in result.policy_documents().items():
        for statement in document["Statement"]:
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                assert resource == "*" or resource.startswith(f"arn:{partition}:"), (name, resource)
    sagemaker_role = result.one(ROLE, "training-pipeline-sagemaker-role")
    [policy] = [p for p in result.of_type(ROLE_POLICY) if p.inputs["role"] == sagemaker_role.outputs["name"]]
    assert f'"arn:{partition}:ecr:{region}:{registry}:repository/sagemaker-xgboost"' in policy.inputs["policy"]
    definition = json.loads(result.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])
    assert (
        definition["States"]["Train model (XGBoost)"]["Resource"]
        == f"arn:{partition}:states:::sagemaker:createTrainingJob.sync"
    )
    assert not result.outputs["consoleUrl"].startswith("https://")  # no console host known there


def test_every_region_of_the_image_table_gets_an_ecr_repository_arn():
    from components.images import image_table, partition, training_image
    from components.pipeline import ecr_repository_arn

    for region in image_table()["versions"]["1.7-1"]["registries"]:
        name = partition(region)[0]
        image = training_image(region, "1.7-1")
        assert (
            ecr_repository_arn(image, name)
            == f"arn:{name}:ecr:{region}:{image.split('.')[0]}:repository/sagemaker-xgboost"
        ), region


# --- 17: `pulumi destroy` keeps the bucket's data unless told otherwise ------------------------


def test_the_bucket_keeps_its_data_on_destroy_by_default():
    import yaml

    from components.settings import PROJECT_FILE, load_stack_settings

    assert settings_with().force_destroy is False
    assert load_stack_settings("dev").force_destroy is False  # the example stack spells out the default
    result = run_program(base_stack_file=False)
    assert result.error is None, result.error
    assert result.one("aws:s3/bucket:Bucket").inputs["forceDestroy"] is False
    # What to do when destroy meets the bucket with objects, where the setting is described.
    description = yaml.safe_load(PROJECT_FILE.read_text())["config"]["forceDestroy"]["description"]
    assert "BucketNotEmpty" in description and "aws s3 rm" in description
