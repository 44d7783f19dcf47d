"""The local SageMaker XGBoost container: the code that runs inside an image's Python environment.

It imports only the standard library and what the image has (xgboost, numpy, scipy, pandas), plus
`lambda_src.xgboost_hyperparameters` (standard library only: the container's own validation),
never moto, boto3, runner.emulator or components. The emulator (runner/emulator) meets it at a process
boundary, as SageMaker meets the image: it lays out /opt/ml (`input/config/*.json`,
`input/data/<channel>/`, `model/`, `output/`), starts `python -m runner.container` in the image's
environment (runner/emulator/image_environments.py), and reads back the exit code, `output/failure`
and `model/xgboost-model`. Laid out by the container's own concerns, as its source is
(aws/sagemaker-xgboost-container `src/sagemaker_xgboost_container/`):

  images.py       what differs between the images, one table (`IMAGES`)
  failures.py     ContainerError: the job's FailureReason (ClientError / AlgorithmError)
  data.py         channels on disk -> DMatrix (data_utils.py)
  metrics.py      the container's own metrics (metrics/custom_metrics.py)
  checkpoints.py  checkpoint names and load_checkpoint (checkpointing.py, callback.py)
  training.py     one host's training job (algorithm_mode/train.py)
  distributed.py  several hosts: tracker and collective rounds (distributed.py)
  serving.py      batch transform requests (algorithm_mode/serve.py, serve_utils.py, encoder.py)
  __main__.py     the process: loads the library, then runs the one job it is handed
"""
