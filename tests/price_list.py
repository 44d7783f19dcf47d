"""The Price List API's answers for the cost tests (stubbed with botocore's Stubber), and the jobs they price."""

import json

REGION = "us-west-2"
M5 = "ml.m5.xlarge"


def _product(usagetype: str, usd: str, unit: str = "Hrs", begin: str = "0") -> str:
    return json.dumps(
        {
            "product": {"productFamily": "ML Instance", "attributes": {"usagetype": usagetype, "regionCode": REGION}},
            "terms": {
                "OnDemand": {
                    "SKU.TERM": {
                        "priceDimensions": {
                            f"SKU.TERM.{begin}": {
                                "unit": unit,
                                "beginRange": begin,
                                "endRange": "Inf",
                                "pricePerUnit": {"USD": usd},
                            }
                        }
                    }
                }
            },
        }
    )


def _request(service: str, **filters) -> dict:
    return {
        "ServiceCode": service,
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
        "Filters": [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()],
    }


SAGEMAKER_M5 = _request("AmazonSageMaker", regionCode=REGION, instanceName=M5)
LAMBDA = _request("AWSLambda", regionCode=REGION, group="AWS-Lambda-Duration")
S3 = _request("AmazonS3", regionCode=REGION, volumeType="Standard")
# Hosting and spot products of the instance come back too; only the usage type tells them apart.
M5_PRODUCTS = [
    _product(f"USW2-Host:{M5}", "0.2300000000"),
    _product(f"USW2-Train:{M5}-Spot", "0.0700000000"),
    _product(f"USW2-Train:{M5}", "0.2304000000"),
    _product(f"USW2-Tsform:{M5}", "0.2310000000"),
]

TRAINING = {
    "job_name": "xgb-dev--1",
    "instance_type": M5,
    "instance_count": 2,
    "training_seconds": 500,
    "billable_seconds": 100,
    "spot": True,
}
TRANSFORM = {"job_name": "xgb-dev--1", "instance_type": M5, "instance_count": 1, "seconds": 360}
