"""Rate limits: the rule math (chalicelib/domain/rate_limits.py), its setting, and each rule where
the services apply it, on fakes with the default rules and a moved clock."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib.domain.clock import epoch_ms
from chalicelib.domain.errors import PaymentDeclined, RateLimited
from chalicelib.domain.rate_limits import DEFAULT_RULES, EXPIRY_MARGIN_SECONDS, Rule, parse, refusal, window
from chalicelib.settings import Settings
from tests.fakes import FakeClock, buy, fake_services, open_drop

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
    assert first.expires_epoch == T // 1000 + 600 + EXPIRY_MARGIN_SECONDS and EXPIRY_MARGIN_SECONDS == 60  # README
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


# --- applied by the services (fakes, the default rules) -----------------------------------------


@pytest.fixture
def limited(clock):
    """(services, ports) with the default rules, at a moved clock."""
    return fake_services(clock, rate_limits="")


def test_ten_new_shoppers_per_address_every_ten_minutes(limited, clock):
    services, ports = limited
    clock.advance((600_000 - epoch_ms(clock.now()) % 600_000) / 1000)  # the start of a window
    for _ in range(10):
        services.shoppers.register("198.51.100.1")
    clock.advance(599.5)
    with pytest.raises(RateLimited) as refused:
        services.shoppers.register("198.51.100.1")
    assert refused.value.retry_after == 1
    assert services.shoppers.register("198.51.100.2")  # another address
    clock.advance(0.5)  # the next window
    assert services.shoppers.register("198.51.100.1")


def test_requests_without_an_address_share_one_budget(limited):
    services, _ = limited
    for _ in range(10):
        services.shoppers.register(None)
    with pytest.raises(RateLimited):
        services.shoppers.register()  # no address is the same unknown address
    assert services.shoppers.register("198.51.100.3")


def test_a_refused_request_counts_nothing_and_costs_one_write(limited):
    services, ports = limited
    for _ in range(10):
        services.shoppers.register("198.51.100.4")
    before = ports.rate_counters.calls["hit"]
    with pytest.raises(RateLimited):
        services.shoppers.register("198.51.100.4")
    assert ports.rate_counters.calls["hit"] == before + 1


def test_chat_tokens_are_five_a_minute_per_shopper_in_a_session(limited, clock):
    services, ports = limited
    first = open_drop(services)
    second = open_drop(services)
    fan, other = services.shoppers.register("a")[0], services.shoppers.register("a")[0]
    clock.advance((60_000 - epoch_ms(clock.now()) % 60_000) / 1000 + 15)  # 15 s into a minute
    for _ in range(5):
        services.live.chat_token(first.session_id, fan)
    with pytest.raises(RateLimited) as refused:
        services.live.chat_token(first.session_id, fan)
    assert refused.value.retry_after == 45
    assert refused.value.detail == "at most 5 chat tokens every 60 seconds per shopper in a session"
    assert len(ports.chat.tokens) == 5  # the refused one reached no chat room
    services.live.chat_token(first.session_id, other)  # per shopper
    services.live.chat_token(second.session_id, fan)  # per session
    clock.advance(45)
    services.live.chat_token(first.session_id, fan)


def test_pay_is_ten_requests_a_minute_per_order_against_card_testing(limited, clock):
    services, ports = limited
    drop = open_drop(services, quantity=5)
    buyer = services.shoppers.register("a")[0]
    order, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1})
    other, _ = buy(services, buyer, drop.session_id, {drop.product_id: 1})
    clock.advance((60_000 - epoch_ms(clock.now()) % 60_000) / 1000)
    for n in range(10):
        with pytest.raises(PaymentDeclined):
            services.payments.pay(order.id, buyer, f"pm_card_stolen_{n}")
    with pytest.raises(RateLimited) as refused:
        services.payments.pay(order.id, buyer, "pm_card_visa")
    assert refused.value.retry_after == 60
    assert refused.value.detail == "at most 10 payment attempts every 60 seconds per order"
    assert ports.payment_gateway.calls["confirm"] == 10  # the eleventh card never reached the provider
    assert services.payments.pay(other.id, buyer, "pm_card_visa").order.status.value == "paid"  # per order
    clock.advance(60)
    assert services.payments.pay(order.id, buyer, "pm_card_visa").order.status.value == "paid"


def test_the_order_rule_is_there_for_the_checkouts_own_transaction(limited, clock):
    """Checkout counts the `order` window inside its reservation transaction: the limiter gives it
    the window and the refusal, from the one definition."""
    services, ports = limited
    limiter = services.live.limiter
    clock.advance((1000 - epoch_ms(clock.now()) % 1000) / 1000 + 0.25)
    current = limiter.window("order", "shp_1")
    assert current.limit == 2 and current.retry_after == 1
    assert current.key == f"rate#order#shp_1#{epoch_ms(clock.now()) // 1000}"
    assert limiter.refused("order", current).detail == "at most 2 orders a second per shopper"


def test_the_fake_counts_as_the_conditional_add_does():
    from tests.fakes import fake_ports

    counters = fake_ports(FakeClock(datetime(2026, 11, 22, tzinfo=timezone.utc))).rate_counters
    full = window(Rule("t", 3, 1, "tests", "per test"), "x", T)
    assert [counters.hit(full) for _ in range(5)] == [True, True, True, False, False]


def test_an_ipv6_client_spends_its_64s_budget_and_an_ipv4_one_its_own():
    from chalicelib.domain.rate_limits import client_subject

    assert client_subject("2001:db8:1:2:aaaa::1") == client_subject("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_subject("2001:db8:1:3::1") != client_subject("2001:db8:1:2::1")
    assert client_subject("203.0.113.7") == "203.0.113.7" != client_subject("203.0.113.8")
    assert client_subject("unknown") == "unknown"


def test_minting_from_many_addresses_of_one_ipv6_64_shares_one_budget(clock):
    from chalicelib.domain.errors import RateLimited
    from tests.fakes import fake_services

    services, _ = fake_services(clock, rate_limits="shopper_mint=3/600")
    for n in range(3):
        services.shoppers.register(f"2001:db8:0:1::{n + 1:x}")
    with pytest.raises(RateLimited):
        services.shoppers.register("2001:db8:0:1::ffff")
    services.shoppers.register("2001:db8:0:2::1")  # another /64
