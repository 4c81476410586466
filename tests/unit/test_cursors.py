"""Cursors are opaque, and only accepted for the partition that issued them."""
import pytest

from chalicelib.adapters.dynamodb import decode_cursor, encode_cursor
from chalicelib.domain.errors import InvalidInput

KEY = {"brandId": {"S": "brd_a"}, "id": {"S": "prd_1"}}


def test_round_trip():
    assert decode_cursor(encode_cursor(KEY), ("brandId", "brd_a")) == KEY
    assert encode_cursor(None) is None and decode_cursor(None, ("brandId", "brd_a")) is None


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", encode_cursor({"brandId": {"S": "brd_b"}, "id": {"S": "x"}}),
                                    encode_cursor({"brandId": {"N": "1"}}), "bnVsbA"])
def test_foreign_or_broken_cursors_are_invalid_input(cursor):
    with pytest.raises(InvalidInput) as raised:
        decode_cursor(cursor, ("brandId", "brd_a"))
    assert raised.value.facts()["field"] == "cursor"
