"""The SageMaker built-in XGBoost image (its hyperparameter rules: lambda_src/xgboost_hyperparameters.py)."""

from __future__ import annotations

DEPRECATED_VERSIONS = ("latest", "1")

def training_image(region: str, version: str) -> str:
    """The built-in XGBoost image for `region`, resolved offline by the SageMaker Python SDK."""
    if version in DEPRECATED_VERSIONS:
        raise ValueError(f"XGBoost version {version!r} is deprecated by AWS; use e.g. 1.7-1")
    from sagemaker.core import image_uris  # imported here: it takes about a second

    return image_uris.retrieve("xgboost", region, version)
