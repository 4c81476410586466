"""botocore Stubber clients for the AWS adapter tests."""
import contextlib

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber


@contextlib.contextmanager
def stubbed(service: str):
    """(client, stubber) for `service`, offline; every request is checked against its model, and
    every response queued must have been asked for by the end (a call the adapter stopped making
    fails the test instead of leaving its stub unused)."""
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@contextlib.contextmanager
def raises_client_error(code: str):
    """The ClientError the service would send, with this error code: nothing else passes, in particular
    not the Stubber's own StubAssertionError/ParamValidationError for a request it did not expect."""
    with pytest.raises(ClientError) as raised:
        yield raised
    assert raised.value.response["Error"]["Code"] == code, raised.value
