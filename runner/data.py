"""run.py --data: the execution input's `data` object, and a local file checked and uploaded.

A local file (CSV with a header, or Parquet) is read here with the preparation's own rules
(lambda_src/data_preparation.py) before anything is uploaded or started: bad data is one line,
exit 2. It then goes to the run's upload location, `s3://<bucket>/runs/<name>/upload/`, the only
place in the stack's bucket the seeding function may read, and the execution's `data.uri`
points there. Data already in S3 (`s3://...`) is not read here: it is prepared inside AWS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Iterator

from lambda_src import data_preparation
from lambda_src.execution_input import upload_location
from runner.outputs import UsageError

PARQUET_SUFFIXES = (".parquet", ".pq")
STOP_WAIT_SECONDS = 30  # for an execution run.py stopped to show its end, before its upload is removed


@dataclasses.dataclass(frozen=True)
class DataRequest:
    data: str                   # a local path or an s3:// URI
    label: str | None = None
    test: str | None = None
    split: tuple[float, float] | None = None  # (validation, test)
    categorical: str | None = None  # "auto" (default) or "off"


def parse_split(text: str) -> tuple[float, float]:
    """`--split 0.1,0.2`: validation and test fractions."""
    try:
        validation, test = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--split {text!r}: expected VALIDATION,TEST fractions, e.g. --split 0.1,0.2") from None
    return validation, test


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def _local_path(location: str, flag: str) -> Path:
    path = Path(location).expanduser()
    if path.is_dir():
        raise UsageError(f"{flag} {location} is a directory: give one CSV or Parquet file in it (a folder of "
                         "files: upload it to S3 and pass s3://bucket/prefix/)")
    if not path.is_file():
        raise UsageError(f"{flag} {location}: no such file (give a CSV or Parquet file, or an s3:// URI)")
    return path


def execution_data(request: DataRequest, bucket: str, name: str) -> tuple[dict, dict[str, Path]]:
    """The input's `data` object, local files replaced by their upload URIs; and those files
    (upload URI -> local path)."""
    uploads: dict[str, Path] = {}
    if request.test is not None and is_s3(request.data) != is_s3(request.test):
        raise UsageError("--data and --test must both be local files or both s3:// URIs")

    def uri(location: str, flag: str, stem: str) -> str:
        if is_s3(location):
            return location
        _local_path(location, flag)
        target = f"{upload_location(bucket, name)}{stem}.csv"
        uploads[target] = Path(location).expanduser()
        return target

    data: dict = {"uri": uri(request.data, "--data", "data")}
    if request.label is not None:
        data["label"] = request.label
    if request.test is not None:
        data["test"] = uri(request.test, "--test", "test")
    if request.split is not None:
        data["split"] = {"validation": request.split[0], "test": request.split[1]}
    if request.categorical is not None:
        data["categorical"] = request.categorical
    return data, uploads


@contextlib.contextmanager
def as_csv(path: Path) -> Iterator[Path]:
    """The file itself, or a Parquet file written as CSV with a header (batch by batch)."""
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        yield path
        return
    import pyarrow.csv
    import pyarrow.parquet

    with tempfile.TemporaryDirectory(prefix="run-data-") as folder:
        target = Path(folder) / f"{path.stem}.csv"
        try:
            source = pyarrow.parquet.ParquetFile(path)
            limit = data_preparation.LAMBDA_BUDGET_SECONDS * data_preparation.PREPARE_BYTES_PER_SECOND
            with open(target, "wb") as sink, pyarrow.csv.CSVWriter(sink, source.schema_arrow) as writer:
                for batch in source.iter_batches(batch_size=65536):
                    writer.write_batch(batch)
                    if sink.tell() > limit:  # no need to write it all to know it is too large
                        break
        except (OSError, ValueError, pyarrow.ArrowException) as error:
            raise UsageError(f"{path}: cannot read it as Parquet: {str(error).splitlines()[0]}") from None
        if target.stat().st_size > limit:
            raise UsageError(f"{path}: more than {limit / 1e9:.1f} GB as CSV, over what the seeding function can "
                             f"prepare within Lambda's time limit (estimated at "
                             f"{data_preparation.PREPARE_BYTES_PER_SECOND / 1e6:.1f} MB/s from the emulator, not "
                             f"measured on AWS): give less data per run")
        yield target


@dataclasses.dataclass
class Findings:
    """What checking a local file learned: hyperparameters the data settles (num_class for a
    multi: objective without one) and warnings for the user."""
    hyperparameters: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def checked_files(data: dict, uploads: dict[str, Path], *, seed: int, shards: int,
                  hyperparameters: dict[str, str], found: Findings | None = None) -> Iterator[dict[str, Path]]:
    """Check the local files with the preparation's rules (nothing written); yields the CSV files
    to upload (upload URI -> path). `data` is the checked input (execution_input). Given `found`,
    what the check learned goes there."""
    with contextlib.ExitStack() as stack:
        files = {uri: stack.enter_context(as_csv(path)) for uri, path in uploads.items()}
        size = sum(path.stat().st_size for path in files.values())
        try:
            if files:
                data_preparation.check_fits_lambda(size, ", ".join(str(path) for path in uploads.values()))
        except data_preparation.InvalidData as error:
            raise UsageError(str(error)) from None
        if data is not None and data["uri"] in files:
            names = {uri: str(uploads[uri]) for uri in files}
            split = data["split"]
            test_uri = data.get("test")
            try:
                with contextlib.ExitStack() as streams:
                    def opened(uri: str):
                        return streams.enter_context(open(files[uri], encoding="utf-8-sig", newline=""))

                    prepared = data_preparation.prepare(
                        [(names[data["uri"]], opened(data["uri"]))], data_preparation.CountingSink(),
                        test_sources=[(names[test_uri], opened(test_uri))] if test_uri in files else [],
                        hyperparameters=hyperparameters, label=data["label"], seed=seed, shards=shards,
                        validation=split["validation"], test=split["test"],
                        categorical=data["categorical"], num_class_from_data=found is not None)
            except data_preparation.InvalidData as error:
                raise UsageError(str(error)) from None
            if found is not None:
                found.hyperparameters.update(prepared.implied)
                if prepared.identifier_like:
                    found.warnings.append(f"{names[data['uri']]}: "
                                          f"{data_preparation.identifier_warning(prepared.identifier_like)}")
        yield files


def upload(s3, files: dict[str, Path]) -> None:
    """Put each file at its upload URI (multipart for large files, aborted on failure)."""
    for uri, path in files.items():
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "text/csv"})


def remove_after_end(sfn, s3, execution_arn: str, files: dict[str, Path], wait_seconds: float = 0) -> bool:
    """The uploads of an execution that has ended, whatever its end: Prepare dataset deletes what
    it read, but a run refused at Validate input, stopped or failed before Prepare (or refused
    there before reading) keeps its upload, which anyone allowed to invoke the seeding function
    could read or delete. Nothing is removed while the execution runs (run.py detached); a run
    just stopped is given `wait_seconds` to show its end (its running state finishes first).
    Whether they were removed (False: still running; the lifecycle rule expires them after
    runsExpireDays)."""
    if not files:
        return False
    deadline = time.monotonic() + wait_seconds
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    remove(s3, files)
    return True


def remove(s3, files: dict[str, Path]) -> None:
    """Best effort: the uploads of a run that did not start, or has ended."""
    for uri in files:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        with contextlib.suppress(Exception):
            s3.delete_object(Bucket=bucket, Key=key)
