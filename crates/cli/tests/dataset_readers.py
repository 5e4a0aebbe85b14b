"""What the dataset tests ask of the engines users query datasets with.

    dataset_readers.py compare ENDPOINT BUCKET PREFIX DIRECT_PARQUET COPY_DIR
        Reads the dataset at s3://BUCKET/PREFIX with pyarrow.dataset and
        polars (on the objects, over the S3 API) and with DuckDB (on a local
        copy: its S3 support is an extension downloaded at run time, and the
        test machine has no network). Each must give the rows of
        DIRECT_PARQUET (a plain load of the same sources), value for value,
        and a hive `year` equal to each row's year. Prints a JSON summary.
    dataset_readers.py state ENDPOINT BUCKET PREFIX
        Prints {"objects": {key: etag}, "manifest": newest manifest or null,
        "uploads": multipart uploads in progress in the bucket}.
    dataset_readers.py wait-upload ENDPOINT BUCKET
        Returns once a multipart upload is in progress in the bucket.

Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment.
"""

import json
import os
import sys
import time

import boto3


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )


def objects(s3, bucket, prefix):
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["ETag"]
    return found


def newest_manifest(s3, bucket, prefix, keys):
    manifests = sorted(k for k in keys if k.startswith(prefix + "_manifest/"))
    if not manifests:
        return None
    body = s3.get_object(Bucket=bucket, Key=manifests[-1])["Body"].read()
    return json.loads(body)


def state(endpoint, bucket, prefix):
    s3 = client(endpoint)
    keys = objects(s3, bucket, prefix)
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    print(
        json.dumps(
            {
                "objects": keys,
                "manifest": newest_manifest(s3, bucket, prefix, keys),
                "uploads": len(uploads),
            }
        )
    )


def wait_upload(endpoint, bucket):
    s3 = client(endpoint)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if s3.list_multipart_uploads(Bucket=bucket).get("Uploads"):
            print("uploading")
            return
        time.sleep(0.02)
    sys.exit("no multipart upload started within 180 s")


def compare(endpoint, bucket, prefix, direct, copy):
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    s3 = client(endpoint)
    for key in objects(s3, bucket, prefix):
        target = os.path.join(copy, key[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        s3.download_file(bucket, key, target)

    order = [("date", "ascending"), ("ticker", "ascending")]
    want = pq.read_table(direct).sort_by(order)
    columns = want.column_names
    filesystem = pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        region="us-east-1",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    readers = {
        "pyarrow.dataset (S3)": ds.dataset(
            f"{bucket}/{prefix}", filesystem=filesystem, format="parquet", partitioning="hive"
        )
        .to_table()
        .sort_by(order),
        "polars scan_parquet (S3)": pl.scan_parquet(
            f"s3://{bucket}/{prefix}**/*.parquet",
            hive_partitioning=True,
            storage_options={
                "aws_endpoint_url": endpoint,
                "aws_region": "us-east-1",
                "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
                "aws_allow_http": "true",
            },
        )
        .sort(["date", "ticker"])
        .collect()
        .to_arrow(),
        "duckdb read_parquet (local copy)": duckdb.sql(
            f"select * from read_parquet('{copy}/**/*.parquet', hive_partitioning = true) "
            "order by date, ticker"
        ).to_arrow_table(),
    }
    summary = {"rows": want.num_rows}
    for name, table in readers.items():
        assert table.num_rows == want.num_rows, (name, table.num_rows, want.num_rows)
        for column in columns:
            got = table.column(column).to_pylist()
            assert got == want.column(column).to_pylist(), (name, column)
        years = table.column("year").to_pylist()
        dates = table.column("date").to_pylist()
        assert all(int(y) == d.year for y, d in zip(years, dates)), (name, "year")
        summary[name] = table.num_rows
    print(json.dumps(summary))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"compare": compare, "state": state, "wait-upload": wait_upload}[command](*args)
