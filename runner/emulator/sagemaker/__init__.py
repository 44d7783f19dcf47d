"""SageMaker: the API (moto, patched), its jobs, hosts and image environments."""
