"""botocore Stubber clients for the AWS adapter tests."""
import contextlib

import boto3
from botocore.stub import Stubber


@contextlib.contextmanager
def stubbed(service: str):
    """(client, stubber) for `service`, offline; every request is checked against its model."""
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
