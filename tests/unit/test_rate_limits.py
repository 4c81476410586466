"""Rate limits: the rule math (chalicelib/domain/rate_limits.py) and its setting."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.domain.errors import RateLimited
from chalicelib.domain.rate_limits import DEFAULT_RULES, EXPIRY_MARGIN_SECONDS, Rule, parse, refusal, window
from chalicelib.settings import Settings
from tests.fakes import FakeClock

LIKE = DEFAULT_RULES["like"]
MINT = DEFAULT_RULES["shopper_mint"]
T = 1_800_000_000_000  # epoch ms, a whole multiple of 600 s: the start of a shopper_mint window


# --- the rule math ---------------------------------------------------------------------------------


def test_the_defaults_are_the_documented_ones():
    assert {name: (rule.limit, rule.seconds) for name, rule in DEFAULT_RULES.items()} == {
        "shopper_mint": (10, 600), "order": (2, 1), "payment": (10, 60), "like": (5, 1), "chat_token": (5, 60)}


def test_a_window_is_fixed_keyed_by_its_index_and_expires_a_little_after_it_ends():
    first = window(MINT, "203.0.113.7", T)
    assert first.key == f"rate#shopper_mint#203.0.113.7#{T // 600_000}"
    assert first.limit == 10
    assert first.expires_epoch == T // 1000 + 600 + EXPIRY_MARGIN_SECONDS
    assert window(MINT, "203.0.113.7", T + 599_999).key == first.key  # the last ms of the window
    following = window(MINT, "203.0.113.7", T + 600_000)  # the first ms of the next one
    assert following.key == f"rate#shopper_mint#203.0.113.7#{T // 600_000 + 1}"
    assert following.expires_epoch == first.expires_epoch + 600
    assert window(MINT, "203.0.113.8", T).key != first.key  # per subject
    assert window(DEFAULT_RULES["payment"], "203.0.113.7", T).key.startswith("rate#payment#")  # per rule


@pytest.mark.parametrize("offset_ms, retry_after", [
    (0, 600), (1, 600), (999, 600), (1000, 599), (598_001, 2), (599_000, 1), (599_001, 1), (599_999, 1)])
def test_retry_after_is_the_whole_seconds_to_the_windows_end_and_at_least_one(offset_ms, retry_after):
    assert window(MINT, "a", T + offset_ms).retry_after == retry_after


def test_a_one_second_window_always_says_retry_after_one_second():
    assert {window(LIKE, "s", T + ms).retry_after for ms in (0, 1, 500, 999)} == {1}


def test_a_refusal_says_the_rule_and_when_to_come_back():
    refused = refusal(LIKE, window(LIKE, "ses#shp", T + 200))
    assert isinstance(refused, RateLimited) and refused.retry_after == 1
    assert refused.detail == "at most 5 likes a second per shopper in a session"
    assert refused.facts() == {"retryAfter": 1}
    assert refusal(MINT, window(MINT, "a", T)).detail == "at most 10 new shoppers every 600 seconds per client address"


def test_parse_overrides_some_rules_and_keeps_the_rest():
    rules = parse(" shopper_mint = 3/60 , like=1/2,")
    assert (rules["shopper_mint"].limit, rules["shopper_mint"].seconds) == (3, 60)
    assert (rules["like"].limit, rules["like"].seconds) == (1, 2)
    assert rules["payment"] == DEFAULT_RULES["payment"]
    assert rules["like"].counted == "likes"  # only the numbers change
    assert parse("") == DEFAULT_RULES


@pytest.mark.parametrize("text, complaint", [
    ("shoppers=10/600", "'shoppers' is not a rule"),
    ("like=5", "'like=5' is not like=<count>/<seconds>"),
    ("like=0/1", "'like=0/1' is not"),
    ("like=5/0", "'like=5/0' is not"),
    ("like=-1/1", "'like=-1/1' is not"),
    ("like=five/1", "is not"),
    ("like=1.5/1", "is not"),
    ("like=5/86401", "1 to 86400 seconds"),
    ("like=5/1,like=6/1", "'like' is given twice"),
])
def test_parse_refuses_what_is_not_a_rule(text, complaint):
    with pytest.raises(ValueError) as refused:
        parse(text)
    assert complaint in str(refused.value)


def test_settings_refuse_bad_rate_limits_at_cold_start_naming_the_variable():
    with pytest.raises(ValueError) as refused:
        Settings.from_env({"LIVEDROP_RATE_LIMITS": "shopper_mint=10/600,likes=5/1"})
    assert "LIVEDROP_RATE_LIMITS: 'likes' is not a rule" in str(refused.value)
    assert Settings.from_env({}).rate_limits == DEFAULT_RULES
    assert Settings.from_env({"LIVEDROP_RATE_LIMITS": "order=4/1"}).rate_limits["order"] == Rule(
        "order", 4, 1, "orders", "per shopper")


def test_the_fake_counts_as_the_conditional_add_does():
    from tests.fakes import fake_ports

    counters = fake_ports(FakeClock(datetime(2026, 11, 22, tzinfo=timezone.utc))).rate_counters
    full = window(Rule("t", 3, 1, "tests", "per test"), "x", T)
    assert [counters.hit(full) for _ in range(5)] == [True, True, True, False, False]
