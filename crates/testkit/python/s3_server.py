"""An S3 server for the tests: moto in server mode on 127.0.0.1, on a port the OS picks.

Prints one JSON line ({"port": N, "users": {...}}) once it serves, then runs
until its stdin closes (the test process ended), so it never outlives a test.

Creates the buckets named in NASDAQ_S3_BUCKETS (comma-separated); those
whose name starts with "public" are readable by anyone.
With NASDAQ_S3_AUTH=1 the server enforces IAM auth: it creates an "admin"
user (s3:*) and a "reader" user (s3:GetObject, s3:ListBucket) and prints
their keys; every later request must be signed by one of them.
"""
import json
import os
import sys

auth = os.environ.get("NASDAQ_S3_AUTH") == "1"
buckets = [b for b in os.environ.get("NASDAQ_S3_BUCKETS", "").split(",") if b]
public = [b for b in buckets if b.startswith("public")]
# create_user x2, put_user_policy x2, create_access_key x2, create_bucket per
# bucket, put_bucket_policy per public bucket
SETUP_ACTIONS = 6 + len(buckets) + len(public)
if auth:
    # moto reads this at import time: the setup below is allowed unsigned, nothing after it.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_ACTIONS)

from moto.server import ThreadedMotoServer  # noqa: E402

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
port = server._server.server_port
info = {"port": port, "users": {}}
endpoint = f"http://127.0.0.1:{port}"

import boto3  # noqa: E402

setup = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="setup",
    aws_secret_access_key="setup",
)
s3 = boto3.client("s3", **setup)
for bucket in buckets:
    s3.create_bucket(Bucket=bucket)
for bucket in public:
    # Anyone may read a bucket whose name starts with "public", as on AWS.
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    }
                ],
            }
        ),
    )

if auth:
    iam = boto3.client("iam", **setup)
    policies = {
        "admin": ["s3:*"],
        "reader": ["s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets"],
    }
    for name, actions in policies.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(
            UserName=name,
            PolicyName=f"{name}-s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        info["users"][name] = {"key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}

print(json.dumps(info), flush=True)
try:
    sys.stdin.read()
finally:
    os._exit(0)
