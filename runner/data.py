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
from collections.abc import Iterator
from pathlib import Path

from lambda_src import data_preparation
from lambda_src.execution_input import upload_location
from runner.errors import UsageError

PARQUET_SUFFIXES = (".parquet", ".pq")
# Parquet as CSV: cells decoded at a time, CSV text written at a time, and the most text one
# column may hold in one row group (read whole when its dictionary is decoded).
BATCH_CELLS = 1 << 20
SLICE_BYTES = 32 << 20
MAX_TEXT_CHUNK_BYTES = 256 << 20
# Uploads above this go in parts of this size (S3: 5 MiB to 5 GiB a part, at most 10,000 parts).
PART_BYTES = 64 << 20
STOP_WAIT_SECONDS = 30  # for an execution run.py stopped to show its end, before its upload is removed


@dataclasses.dataclass(frozen=True)
class DataRequest:
    data: str  # a local path or an s3:// URI
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
        raise UsageError(
            f"{flag} {location} is a directory: give one CSV or Parquet file in it (a folder of "
            "files: upload it to S3 and pass s3://bucket/prefix/)"
        )
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
    """The file itself, or a Parquet file written as CSV with a header, in bounded slices.

    However compressed the file, memory and temporary disk stay bounded: its footer is checked
    first (columns, rows, the size of its text columns), text columns are read as dictionaries
    and their longest value checked before any row is written, rows go out in slices of at most
    SLICE_BYTES of CSV, and writing stops at the preparation's size limit."""
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        yield path
        return
    import pyarrow.csv
    import pyarrow.parquet

    limit = data_preparation.LAMBDA_BUDGET_SECONDS * data_preparation.PREPARE_BYTES_PER_SECOND
    too_large = (
        f"{path}: more than {limit / 1e9:.1f} GB as CSV, over what the seeding function can prepare "
        f"within Lambda's time limit (estimated at {data_preparation.PREPARE_BYTES_PER_SECOND / 1e6:.1f} "
        f"MB/s from the emulator, not measured on AWS): give less data per run"
    )
    with tempfile.TemporaryDirectory(prefix="run-data-") as folder:
        target = Path(folder) / f"{path.stem}.csv"
        try:
            text_columns = _check_parquet_footer(pyarrow.parquet.ParquetFile(path), path, limit, too_large)
            source = pyarrow.parquet.ParquetFile(path, read_dictionary=text_columns)
            batch_rows = max(1, min(65536, BATCH_CELLS // max(1, source.metadata.num_columns)))
            with open(target, "wb") as sink, pyarrow.csv.CSVWriter(sink, source.schema_arrow) as writer:
                for batch in source.iter_batches(batch_size=batch_rows):
                    step = max(1, SLICE_BYTES // _widest_row(batch, path))
                    for start in range(0, batch.num_rows, step):
                        writer.write_batch(batch.slice(start, step))
                        if sink.tell() > limit:  # stop writing at the bound
                            raise UsageError(too_large)
        except (OSError, ValueError, pyarrow.ArrowException) as error:
            raise UsageError(f"{path}: cannot read it as Parquet: {str(error).splitlines()[0]}") from None
        yield target


def _check_parquet_footer(source, path: Path, limit: int, too_large: str) -> list[str]:
    """What the footer says, before any data is read; the text columns (to read as dictionaries)."""
    import pyarrow

    meta = source.metadata
    if meta.num_columns > data_preparation.MAX_COLUMNS:
        raise UsageError(f"{path}: {meta.num_columns} columns, more than {data_preparation.MAX_COLUMNS}")
    if meta.num_rows * meta.num_columns > limit:  # each cell is at least its comma or line break
        raise UsageError(too_large)
    kinds = (
        pyarrow.types.is_string,
        pyarrow.types.is_large_string,
        pyarrow.types.is_binary,
        pyarrow.types.is_large_binary,
    )
    flat = (
        pyarrow.types.is_integer,
        pyarrow.types.is_floating,
        pyarrow.types.is_boolean,
        pyarrow.types.is_null,
        pyarrow.types.is_decimal,
        pyarrow.types.is_temporal,
        pyarrow.types.is_dictionary,
        *kinds,
    )
    for item in source.schema_arrow:  # lists, structs, fixed-size binary: no bound on one cell, no CSV form
        if not any(kind(item.type) for kind in flat):
            raise UsageError(f"{path}: column {item.name!r} is {item.type}: give numbers or text, one value a cell")
    text = [index for index, item in enumerate(source.schema_arrow) if any(kind(item.type) for kind in kinds)]
    for group in range(meta.num_row_groups):
        for index in text:
            size = meta.row_group(group).column(index).total_uncompressed_size
            if size > MAX_TEXT_CHUNK_BYTES:
                raise UsageError(
                    f"{path}: column {source.schema_arrow.names[index]!r} holds {size / 1e6:,.0f} MB of text "
                    f"in one row group, over {MAX_TEXT_CHUNK_BYTES / 1e6:,.0f} MB: write it with "
                    "smaller row groups, or as CSV"
                )
    return [source.schema_arrow.names[index] for index in text]


def _widest_row(batch, path: Path) -> int:
    """An upper bound on one row of `batch` as CSV; refused over the preparation's longest row."""
    import pyarrow
    import pyarrow.compute

    widest = 0
    for name, column in zip(batch.schema.names, batch.columns):
        if pyarrow.types.is_dictionary(column.type):
            lengths = pyarrow.compute.binary_length(column.dictionary)
            longest = pyarrow.compute.max(lengths).as_py() or 0 if len(lengths) else 0
            if longest > data_preparation.MAX_ROW_CHARS:
                raise UsageError(
                    f"{path}: column {name!r} holds a value of {longest:,} bytes, over the "
                    f"{data_preparation.MAX_ROW_CHARS:,} characters a row may have"
                )
            widest += 2 * longest + 3  # quoted, every quote doubled, and a comma
        else:
            widest += 32  # a number, a date or a flag as text
    if widest > data_preparation.MAX_ROW_CHARS:
        raise UsageError(
            f"{path}: rows up to {widest:,} characters as CSV, over the "
            f"{data_preparation.MAX_ROW_CHARS:,} a row may have"
        )
    return widest


@dataclasses.dataclass
class Findings:
    """What checking a local file learned: hyperparameters the data settles (num_class for a
    multi: objective without one) and warnings for the user."""

    hyperparameters: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def checked_files(
    data: dict,
    uploads: dict[str, Path],
    *,
    seed: int,
    shards: int,
    hyperparameters: dict[str, str],
    found: Findings | None = None,
) -> Iterator[dict[str, Path]]:
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
                        [(names[data["uri"]], opened(data["uri"]))],
                        data_preparation.CountingSink(),
                        test_sources=[(names[test_uri], opened(test_uri))] if test_uri in files else [],
                        hyperparameters=hyperparameters,
                        label=data["label"],
                        seed=seed,
                        shards=shards,
                        validation=split["validation"],
                        test=split["test"],
                        categorical=data["categorical"],
                        num_class_from_data=found is not None,
                    )
            except data_preparation.InvalidData as error:
                raise UsageError(str(error)) from None
            if found is not None:
                found.hyperparameters.update(prepared.implied)
                if prepared.identifier_like:
                    found.warnings.append(
                        f"{names[data['uri']]}: {data_preparation.identifier_warning(prepared.identifier_like)}"
                    )
        yield files


class UploadExists(Exception):
    """An object is already at a run's upload location: another run of that name uploaded it."""


def upload(s3, files: dict[str, Path], created: list[str]) -> None:
    """Put each file at its upload URI only if nothing is there yet (`If-None-Match: *`), in one
    request or, above PART_BYTES, in parts completed with the same condition (aborted on failure).
    Each URI put is appended to `created`: what this run may delete, and nothing else.
    Raises UploadExists when an object is already there (the other run's: left alone)."""
    for uri, path in files.items():
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            with open(path, "rb") as body:
                if path.stat().st_size <= PART_BYTES:
                    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv", IfNoneMatch="*")
                else:
                    _upload_parts(s3, bucket, key, body)
        except s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise UploadExists(uri) from None
            raise
        created.append(uri)


def _upload_parts(s3, bucket: str, key: str, body) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv")["UploadId"]
    try:
        parts = []
        while chunk := body.read(PART_BYTES):
            number = len(parts) + 1
            answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, IfNoneMatch="*", MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(Exception):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def remove_after_end(sfn, s3, execution_arn: str, files, wait_seconds: float = 0) -> bool:
    """The uploads of an execution that has ended, whatever its end: Prepare dataset deletes what
    it read, but a run refused at Validate input, stopped or failed before Prepare (or refused
    there before reading) keeps its upload, which anyone allowed to invoke the seeding function
    could read or delete. Nothing is removed while the execution runs (run.py detached); a run
    just stopped is given `wait_seconds` to show its end (its running state finishes first).
    Whether they were removed (False: still running; the lifecycle rule expires them after
    runsExpireDays). `files`: the upload URIs this run created."""
    if not files:
        return False
    deadline = time.monotonic() + wait_seconds
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    remove(s3, files)
    return True


def remove(s3, uris) -> None:
    """Best effort: the uploads of a run that did not start, or has ended (only what it created)."""
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        with contextlib.suppress(Exception):
            s3.delete_object(Bucket=bucket, Key=key)
