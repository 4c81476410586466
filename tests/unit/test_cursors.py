"""Cursors are signed: only a key that a listing issued, for the partition it came from, comes back."""
import pytest

from chalicelib.adapters.dynamodb.support import Cursors
from chalicelib.domain.errors import InvalidInput

KEY = {"brandId": {"S": "brd_a"}, "id": {"S": "prd_1"}}
PARTITION = ("brandId", "brd_a")
cursors = Cursors(lambda: "secret-one")


def test_round_trip():
    assert cursors.decode(cursors.encode(KEY, PARTITION), PARTITION) == KEY
    assert cursors.encode(None, PARTITION) is None and cursors.decode(None, PARTITION) is None


def _tampered():
    payload, signature = cursors.encode(KEY, PARTITION).split(".")
    # Keys the listing never issued: unknown or extra attributes, empty values, a missing sort key.
    import base64
    import json
    forged = [{"brandId": {"S": "brd_a"}}, {"brandId": {"S": "brd_a"}, "id": {"S": ""}},
              {**KEY, "extra": {"S": "x"}}, {"brandId": {"S": "brd_a"}, "id": {"N": "1"}}]
    return [base64.urlsafe_b64encode(json.dumps(f).encode()).decode().rstrip("=") + "." + signature
            for f in forged]


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", "e30.", "e30.AAAA", cursors.encode(KEY, ("brandId", "brd_b")),
                                    Cursors(lambda: "another-secret").encode(KEY, PARTITION), *_tampered()])
def test_forged_foreign_or_broken_cursors_are_invalid_input(cursor):
    with pytest.raises(InvalidInput) as raised:
        cursors.decode(cursor, PARTITION)
    assert raised.value.facts()["field"] == "cursor"
