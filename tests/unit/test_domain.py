"""Pure rules: money, identifiers, API keys, the session status machine. No I/O."""
import pytest

from chalicelib.domain import api_keys
from chalicelib.domain.ids import is_id, new_id
from chalicelib.domain.money import CURRENCY_EXPONENTS, Money, is_currency
from chalicelib.domain.sessions import SessionStatus, can_move


def test_money_is_minor_units_of_a_known_currency():
    assert Money(1999, "EUR").times(3) == Money(5997, "EUR")
    assert CURRENCY_EXPONENTS["JPY"] == 0 and CURRENCY_EXPONENTS["KWD"] == 3
    assert is_currency("USD") and not is_currency("usd") and not is_currency("ABC")
    with pytest.raises(ValueError):
        Money(-1, "EUR")
    with pytest.raises(ValueError):
        Money(1, "XYZ")


def test_ids_are_prefixed_and_time_ordered():
    first, second = new_id("prd"), new_id("prd")
    assert is_id(first, "prd") and not is_id(first, "ses") and not is_id("prd_short", "prd")
    assert first[:16] <= second[:16]


def test_api_keys_round_trip_and_store_only_a_hash():
    issued = api_keys.issue_key("brd_01a2054b2adfd9bc4a3604")
    brand_id, secret = api_keys.parse_key(issued.plaintext)
    assert brand_id == "brd_01a2054b2adfd9bc4a3604"
    assert secret not in issued.hash and api_keys.secret_matches(secret, issued.hash)
    assert not api_keys.secret_matches(secret + "x", issued.hash)
    for malformed in ("", "ldk", "ldk..", "xyz.brd.secret", "ldk.brd.secret.extra"):
        assert api_keys.parse_key(malformed) is None


@pytest.mark.parametrize("current, target, allowed", [
    ("scheduled", "live", True), ("live", "live", True), ("ended", "live", False),
    ("scheduled", "ended", True), ("live", "ended", True), ("ended", "ended", True),
])
def test_session_transitions(current, target, allowed):
    assert can_move(SessionStatus(current), SessionStatus(target)) is allowed


def test_viewer_count_is_asked_of_ivs_at_most_every_ten_seconds():
    from chalicelib.domain.records import Channel, Session
    from chalicelib.domain.sessions import SessionStatus
    from chalicelib.services.live import Live
    from tests.fakes import FakeClock

    class CountingChannels:
        calls = 0

        def viewer_count(self, arn):
            self.calls += 1
            return 42

    clock = FakeClock()
    channels = CountingChannels()
    show = Live(None, None, None, channels, None, None, clock, None)
    session = Session("ses_1", "brd_1", "t", SessionStatus.LIVE, "s", "c", "s", None,
                      Channel("arn:channel", "https://p", "ingest"))
    assert [show.viewers(session) for _ in range(5)] == [42] * 5 and channels.calls == 1
    clock.advance(10.5)
    show.viewers(session)
    assert channels.calls == 2
    ended = Session(**{**session.__dict__, "status": SessionStatus.ENDED})
    assert show.viewers(ended) is None and channels.calls == 2


@pytest.mark.parametrize("variable, value", [
    ("LIVEDROP_IVS_MODE", "embeded"), ("LIVEDROP_IVS_CHANNEL_TYPE", "standard"), ("LIVEDROP_IVS_LATENCY_MODE", "FAST"),
    ("LIVEDROP_STAGE", "Prod!"), ("LIVEDROP_ORDERS_TABLE", "no"), ("AWS_ENDPOINT_URL", "localhost:8000"),
    ("LIVEDROP_WEBHOOK_RETRY_SCHEDULE", "5,5m"), ("LIVEDROP_WEBHOOK_RETRY_SCHEDULE", ""),
])
def test_a_typo_in_configuration_fails_at_start_naming_the_variable(variable, value):
    from chalicelib.settings import Settings

    assert Settings.from_env({})  # the defaults are valid
    with pytest.raises(ValueError, match=variable.replace("[", r"\[").split("_URL")[0]):
        Settings.from_env({variable: value})


def test_webhook_settings_a_shorter_schedule_and_local_mode_only_with_dynamodb_on_loopback():
    from chalicelib.settings import Settings

    assert Settings.from_env({"LIVEDROP_WEBHOOK_RETRY_SCHEDULE": "1, 2,3"}).webhook_retry_schedule == (1.0, 2.0, 3.0)
    assert Settings.from_env({}).webhook_secrets_key == "alias/livedrop-local-webhooks"
    assert Settings.from_env({"LIVEDROP_STAGE": "prod"}).webhook_secrets_key == "alias/livedrop-prod-webhooks"
    assert Settings.from_env({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}).local_mode
    assert Settings.from_env({"AWS_ENDPOINT_URL": "http://localhost:4566"}).local_mode  # LocalStack
    assert not Settings.from_env({}).local_mode  # AWS itself
    assert not Settings.from_env({"LIVEDROP_STAGE": "local",
                                  "AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.eu-west-1.amazonaws.com"}).local_mode


def test_timestamps_always_have_four_digit_years_so_string_order_is_time_order():
    from datetime import datetime, timezone

    from chalicelib.domain.clock import to_iso

    early, late = datetime(999, 12, 31, 23, 59, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert to_iso(early) == "0999-12-31T23:59:00.000Z"
    assert to_iso(early) < to_iso(late)
