"""Shared test set-up."""

# Loaded first: the emulated container sets its OpenMP defaults before xgboost loads (libgomp
# reads them once, and test modules import xgboost too), and runner.local keeps moto's Batch
# and EC2 models out before any test loads moto's Step Functions interpreter.
import runner.local.sagemaker_container  # noqa: F401
