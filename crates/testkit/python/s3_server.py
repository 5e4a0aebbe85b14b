"""An S3 server for the tests: moto in server mode on 127.0.0.1, on a port the OS picks.

Prints one JSON line ({"port": N, "users": {...}}) once it serves, then runs
until its stdin closes (the test process ended), so it never outlives a test.

Creates the buckets named in NASDAQ_S3_BUCKETS (comma-separated); those
whose name starts with "public" are readable by anyone.
With NASDAQ_S3_AUTH=1 the server enforces IAM auth: it creates an "admin"
user (s3:*), a "reader" user (s3:GetObject, s3:ListBucket) and an "assumer"
user who may do nothing but assume the role "s3-reader" (which may read),
and one user per entry of NASDAQ_S3_POLICIES (a JSON object: name -> policy
document, attached exactly as given),
and prints their keys, the role's ARN and temporary credentials of the
role ("session"); every later request must be signed. The same server
answers STS and IAM.
"""
import json
import os
import sys

auth = os.environ.get("NASDAQ_S3_AUTH") == "1"
buckets = [b for b in os.environ.get("NASDAQ_S3_BUCKETS", "").split(",") if b]
public = [b for b in buckets if b.startswith("public")]
# Extra users, each with one policy document exactly as given: {"name": policy}.
extra = json.loads(os.environ.get("NASDAQ_S3_POLICIES") or "{}")
# create_user, put_user_policy, create_access_key for 3 users; create_role and
# put_role_policy; create_bucket per bucket, put_bucket_policy per public bucket
SETUP_ACTIONS = 9 + 2 + len(buckets) + len(public) + 3 * len(extra)
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
    reading = ["s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets"]
    role = iam.create_role(
        RoleName="s3-reader",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*", "Federated": "*"},
                        "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"],
                    }
                ],
            }
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName="s3-reader",
        PolicyName="s3-reader-s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": reading, "Resource": "*"}],
            }
        ),
    )
    info["role_arn"] = role["Arn"]
    policies = {
        "admin": ["s3:*"],
        "reader": reading,
        "assumer": ["sts:AssumeRole"],
    }
    documents = {
        name: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            }
        )
        for name, actions in policies.items()
    }
    documents.update(extra)
    for name, document in documents.items():
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        info["users"][name] = {"key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}

    # Temporary credentials of the role, as STS issues them: what the stand-ins
    # for the container, instance-metadata and SSO endpoints hand out.
    assumer = info["users"]["assumer"]
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=assumer["key_id"],
        aws_secret_access_key=assumer["secret"],
    )
    issued = sts.assume_role(RoleArn=info["role_arn"], RoleSessionName="stand-in")["Credentials"]
    info["session"] = {
        "key_id": issued["AccessKeyId"],
        "secret": issued["SecretAccessKey"],
        "token": issued["SessionToken"],
    }

print(json.dumps(info), flush=True)
try:
    sys.stdin.read()
finally:
    os._exit(0)
