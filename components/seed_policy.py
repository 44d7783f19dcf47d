"""The seeding role's inline policy as plain statements, and its size as IAM counts it (no Pulumi here).

The component turns these statements into a typed policy document; the settings measure the
same statements, rendered as the AWS provider renders them, against IAM's quota on a role's
inline policies, so that a stack whose dataSources would not fit is refused before `pulumi up`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

from lambda_src import bucket_layout
from lambda_src.execution_input import parse_s3_uri

# IAM quotas: the aggregate of a role's inline policies, in characters, white space not counted.
ROLE_POLICY_CHARACTERS = 10_240
# The longest ARNs the stack's own resources can get, for measuring before they exist: a bucket
# name has at most 63 characters, a log group name at most 512.
_LONGEST_BUCKET = "b" * 63
_LONGEST_LOG_GROUP = "/aws/lambda/" + "l" * (512 - len("/aws/lambda/"))


@dataclasses.dataclass(frozen=True)
class Statement:
    """One Allow statement: conditions are (test, variable, values)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


def own_logs(log_group_arn: str) -> Statement:
    return Statement("WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{log_group_arn}:*",))


def data_source_statements(partition: str, data_sources: Sequence[str]) -> list[Statement]:
    """Read the stack's dataSources, each `s3://bucket/prefix/`: one statement for every object
    under every location, and per bucket one listing statement limited (s3:prefix, its values
    OR-ed) to that bucket's prefixes; a whole-bucket location lists that bucket unconditioned.
    A listing statement per bucket, since one statement's prefixes would apply to all its buckets."""
    objects, prefixes_by_bucket = [], {}
    for location in data_sources:
        bucket, prefix = parse_s3_uri(location, "dataSources")
        objects.append(f"arn:{partition}:s3:::{bucket}/{prefix}*")
        prefixes_by_bucket.setdefault(bucket, []).append(prefix)
    if not objects:
        return []
    statements = [Statement("ReadDataSources", ("s3:GetObject",), tuple(objects))]
    for index, (bucket, prefixes) in enumerate(prefixes_by_bucket.items()):
        unconditioned = "" in prefixes
        statements.append(
            Statement(
                f"ListDataSources{index}",
                ("s3:ListBucket",),
                (f"arn:{partition}:s3:::{bucket}",),
                () if unconditioned else (("StringLike", "s3:prefix", tuple(f"{prefix}*" for prefix in prefixes)),),
            )
        )
    return statements


def seed_statements(bucket_arn: str, log_group_arn: str, data_sources: Sequence[str] = ()) -> list[Statement]:
    """What seed_dataset.py does in the stack's bucket, and no more: write a run's csv/ objects
    (PutObject covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload), abort and
    delete them when an invocation fails, delete a run's upload after reading it; list one run's
    prefix (`runs/<name>/`, so no listing of runs/ itself enumerates the runs); read the dataSources."""
    partition = bucket_arn.split(":")[1]
    runs = f"{bucket_arn}/{bucket_layout.RUNS}/*"
    return [
        own_logs(log_group_arn),
        Statement("WriteRunData", ("s3:PutObject", "s3:AbortMultipartUpload"), (f"{runs}/{bucket_layout.CSV}/*",)),
        Statement(
            "DeleteRunDataAndUploads",
            ("s3:DeleteObject",),
            (f"{runs}/{bucket_layout.CSV}/*", f"{runs}/{bucket_layout.UPLOAD}/*"),
        ),
        # seed_dataset.refuse_existing_run lists runs/<name>/ before writing anything.
        Statement(
            "ListRunPrefixes",
            ("s3:ListBucket",),
            (bucket_arn,),
            (("StringLike", "s3:prefix", (f"{bucket_layout.RUNS}/*/",)),),
        ),
        # A file run.py uploaded for a run; execution_input lets each run read its own only.
        Statement("ReadRunUploads", ("s3:GetObject",), (f"{runs}/{bucket_layout.UPLOAD}/*",)),
        *data_source_statements(partition, data_sources),
    ]


def _one_or_list(values: Sequence[str]) -> Any:
    """As the AWS provider's getPolicyDocument writes values: one as a string, several as a list."""
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else values


def policy_characters(statements: Sequence[Statement]) -> int:
    """The document's size as IAM counts it against its quotas: characters, white space excluded."""
    rendered = []
    for statement in statements:
        item = {
            "Sid": statement.sid,
            "Effect": "Allow",
            "Action": _one_or_list(statement.actions),
            "Resource": _one_or_list(statement.resources),
        }
        for test, variable, values in statement.conditions:
            item.setdefault("Condition", {}).setdefault(test, {})[variable] = _one_or_list(values)
        rendered.append(item)
    document = {"Version": "2012-10-17", "Statement": rendered}
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def longest_seed_policy_characters(partition: str, region: str, data_sources: Sequence[str]) -> int:
    """The seeding policy's size with these dataSources and the longest bucket and log group ARNs
    the stack could get (both are generated names, unknown before `pulumi up`)."""
    bucket_arn = f"arn:{partition}:s3:::{_LONGEST_BUCKET}"
    log_group_arn = f"arn:{partition}:logs:{region}:{'0' * 12}:log-group:{_LONGEST_LOG_GROUP}"
    return policy_characters(seed_statements(bucket_arn, log_group_arn, data_sources))
