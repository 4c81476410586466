"""The webhook rules (chalicelib/domain/webhooks.py). Signatures are checked with the PyPI
`standardwebhooks` library (pinned in requirements-dev.txt), never with our own code: conformance
means a receiver using the reference verifier accepts what we send."""
from __future__ import annotations

import base64
import json
import random
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from chalicelib.domain import webhooks as wh
from chalicelib.domain.clock import to_iso

NOW = datetime(2026, 11, 22, 20, 0, 0, tzinfo=timezone.utc)
BODY = json.dumps({"type": "order.paid", "timestamp": "2026-11-22T20:00:00.000Z",
                   "data": {"id": "ord_1", "note": "caf\u00e9 \u2603"}}, separators=(",", ":"))


def now_ts() -> int:
    """The verifier refuses timestamps more than 5 minutes from its own clock: sign at the real now."""
    return int(time.time())


# --- signatures ---------------------------------------------------------------------------------------


def test_a_signed_body_verifies_with_the_reference_library():
    secret = wh.new_secret()
    ts = now_ts()
    sent = wh.headers("evt_0123456789abcdef01234567", ts, BODY, [secret])
    assert Webhook(secret).verify(BODY, sent) == json.loads(BODY)
    assert Webhook(secret).verify(BODY.encode(), sent) == json.loads(BODY)  # as bytes off the wire


def test_the_headers_are_the_standard_ones():
    secret = wh.new_secret()
    sent = wh.headers("evt_abc", 1674087231, "{}", [secret])
    assert sent["webhook-id"] == "evt_abc"
    assert sent["webhook-timestamp"] == "1674087231"
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", sent["webhook-signature"])
    assert sent["content-type"] == "application/json"
    assert sent["user-agent"] == "Livedrop-Webhooks/1"


def test_our_signature_is_the_reference_librarys_signature():
    secret = wh.new_secret()
    moment = datetime.fromtimestamp(1674087231, tz=timezone.utc)
    assert wh.signature(secret, "msg_1", 1674087231, BODY) == Webhook(secret).sign("msg_1", moment, BODY)


def test_during_a_rotation_each_secret_alone_verifies_the_two_signature_header():
    current, previous, stranger = wh.new_secret(), wh.new_secret(), wh.new_secret()
    ts = now_ts()
    sent = wh.headers("evt_rotation", ts, BODY, [current, previous])
    first, second = sent["webhook-signature"].split(" ")
    assert first == wh.signature(current, "evt_rotation", ts, BODY)  # current first
    assert second == wh.signature(previous, "evt_rotation", ts, BODY)
    Webhook(current).verify(BODY, sent)
    Webhook(previous).verify(BODY, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, sent)


@pytest.mark.parametrize("change", ["body", "id", "timestamp"])
def test_a_tampered_message_is_refused(change):
    secret = wh.new_secret()
    ts = now_ts()
    sent = wh.headers("evt_tamper", ts, BODY, [secret])
    body = BODY
    if change == "body":
        body = BODY.replace("ord_1", "ord_2")
    elif change == "id":
        sent["webhook-id"] = "evt_other"
    else:
        sent["webhook-timestamp"] = str(ts + 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, sent)


def test_a_new_secret_is_whsec_and_32_random_bytes_the_library_accepts():
    one, two = wh.new_secret(), wh.new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one[len("whsec_"):], validate=True)) == 32
    assert wh.secret_key(one) == base64.b64decode(one[6:])
    Webhook(one)  # the reference library reads it as a secret


@pytest.mark.parametrize("secret", ["abc", "whsec_", "whsec_not base64!", "sk_" + "A" * 44])
def test_anything_but_a_whsec_secret_is_refused(secret):
    with pytest.raises(ValueError):
        wh.secret_key(secret)


def test_signing_needs_a_secret_and_an_id_without_a_dot():
    with pytest.raises(ValueError):
        wh.signature_header([], "evt_1", 1, "{}")
    with pytest.raises(ValueError):
        wh.signature(wh.new_secret(), "evt.1", 1, "{}")


# --- ids --------------------------------------------------------------------------------------------------


def test_endpoint_ids_are_time_ordered_whk_ids():
    first, second = wh.new_endpoint_id(), wh.new_endpoint_id()
    assert re.fullmatch(r"whk_[0-9a-f]{22}", first) and first != second
    assert first[:16] <= second[:16]  # the millisecond part


def test_event_and_delivery_ids_are_derived_so_a_record_seen_again_is_the_same_delivery():
    event = wh.event_id("order.paid", "ord_1", "3")
    assert re.fullmatch(r"evt_[0-9a-f]{24}", event)
    assert event == wh.event_id("order.paid", "ord_1", "3")
    assert len({event, wh.event_id("order.paid", "ord_1", "4"), wh.event_id("order.paid", "ord_2", "3"),
                wh.event_id("order.expired", "ord_1", "3"), wh.event_id("order.paid", "ord_1")}) == 5
    # The parts are joined with a separator: moving a character between them is another event.
    assert wh.event_id("a", "bc") != wh.event_id("ab", "c")
    delivery = wh.delivery_id("whk_1", event)
    assert re.fullmatch(r"dlv_[0-9a-f]{24}", delivery)
    assert delivery == wh.delivery_id("whk_1", event) != wh.delivery_id("whk_2", event)


def test_ping_event_ids_are_random():
    pings = {wh.new_ping_event_id() for _ in range(50)}
    assert len(pings) == 50 and all(re.fullmatch(r"evt_[0-9a-f]{24}", p) for p in pings)


# --- retries ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, schedule", [
    ("5,300", (5.0, 300.0)),
    (" 1 , 2.5,0 ", (1.0, 2.5, 0.0)),
    ("86400", (86400.0,)),
    ("5,300,1800,7200,18000,36000,36000", wh.DEFAULT_RETRY_SCHEDULE),
])
def test_a_schedule_is_seconds_separated_by_commas(text, schedule):
    assert wh.parse_schedule(text) == schedule


@pytest.mark.parametrize("text, named", [
    ("", "at least one"), ("  ", "at least one"), ("5,,300", "part 2 ('')"), ("5,abc", "'abc'"),
    ("-1", "'-1'"), ("86401", "'86401'"), ("nan", "'nan'"), ("inf", "'inf'"), ("5;300", "'5;300'"),
])
def test_a_bad_schedule_is_refused_naming_the_bad_part(text, named):
    with pytest.raises(ValueError) as raised:
        wh.parse_schedule(text)
    assert named in str(raised.value)


@given(schedule=st.lists(st.floats(0, 86400), min_size=1, max_size=10), n=st.integers(1, 12),
       seed=st.integers(0, 2**32))
def test_a_retry_waits_its_scheduled_delay_within_the_jitter_and_none_after_the_last(schedule, n, seed):
    delay = wh.retry_delay(n, schedule, random.Random(seed))
    if n > len(schedule):
        assert delay is None
    else:
        base = schedule[n - 1]
        assert delay is not None and base * 0.9 <= delay <= base * 1.1


def test_the_jitter_spreads_retries_and_the_default_schedule_has_seven():
    rng = random.Random(7)
    delays = [wh.retry_delay(2, wh.DEFAULT_RETRY_SCHEDULE, rng) for _ in range(200)]
    assert min(delays) < 290 and max(delays) > 310  # spread over most of 270..330, not a constant
    assert wh.retry_delay(7, wh.DEFAULT_RETRY_SCHEDULE, rng) is not None
    assert wh.retry_delay(8, wh.DEFAULT_RETRY_SCHEDULE, rng) is None
    with pytest.raises(ValueError):
        wh.retry_delay(0, wh.DEFAULT_RETRY_SCHEDULE, rng)


@pytest.mark.parametrize("header, seconds", [
    (None, None),
    ("120", 120.0),
    (" 30 ", 30.0),
    ("0", 0.0),
    ("99999999999", 86400.0),                          # capped
    ("Sun, 22 Nov 2026 20:01:30 GMT", 90.0),           # IMF-fixdate
    ("Sunday, 22-Nov-26 20:01:30 GMT", 90.0),          # obsolete RFC 850
    ("Sun Nov 22 20:01:30 2026", 90.0),                # asctime (no zone: GMT)
    ("Sun, 22 Nov 2026 19:00:00 GMT", 0.0),            # in the past: now, never negative
    ("Fri, 01 Jan 2100 00:00:00 GMT", 86400.0),        # capped
    ("-5", None), ("1.5", None), ("soon", None), ("", None), ("\u00b2", None),
])
def test_retry_after_reads_seconds_or_an_http_date(header, seconds):
    assert wh.retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize("status, result", [
    (200, "succeeded"), (201, "succeeded"), (204, "succeeded"), (299, "succeeded"),
    (301, "failed"), (302, "failed"), (307, "failed"), (304, "failed"),
    (410, "gone"), (429, "throttled"), (503, "throttled"),
    (400, "failed"), (404, "failed"), (500, "failed"), (502, "failed"), (100, "failed"), (None, "failed"),
])
def test_outcome_of_a_status(status, result):
    assert wh.outcome(status) == result


def test_an_endpoint_is_disabled_after_five_days_of_failing():
    assert not wh.should_disable(None, NOW)
    assert wh.should_disable(to_iso(NOW - timedelta(days=5)), NOW)
    assert not wh.should_disable(to_iso(NOW - timedelta(days=5) + timedelta(milliseconds=1)), NOW)
    assert wh.should_disable(to_iso(NOW - timedelta(days=30)), NOW)


# --- addresses and URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("ip, local_mode, refused", [
    ("93.184.216.34", False, None),
    ("8.8.8.8", True, None),
    ("2606:4700:4700::1111", False, None),
    ("10.0.0.1", False, "private"),
    ("172.16.5.4", True, "private"),
    ("192.168.1.1", False, "private"),
    ("127.0.0.1", False, "loopback"),
    ("127.0.0.1", True, None),
    ("127.9.9.9", True, None),
    ("::1", False, "loopback"),
    ("::1", True, None),
    ("169.254.169.254", False, "metadata"),
    ("169.254.169.254", True, "metadata"),
    ("fd00:ec2::254", True, "metadata"),
    ("169.254.170.2", False, "metadata"),
    ("fec0::1", False, "site-local"),
    ("169.254.1.1", False, "link-local"),
    ("fe80::1", False, "link-local"),
    ("fe80::1%eth0", True, "link-local"),
    ("100.64.0.1", False, "carrier-grade NAT"),
    ("100.127.255.254", True, "carrier-grade NAT"),
    ("0.0.0.0", True, "unspecified"),
    ("::", True, "unspecified"),
    ("224.0.0.1", False, "multicast"),
    ("ff0e::1", False, "multicast"),
    ("240.0.0.1", False, "reserved"),
    ("255.255.255.255", False, "reserved"),
    ("192.0.2.1", False, "private"),         # documentation
    ("2001:db8::1", False, "private"),        # documentation
    ("198.18.0.1", False, "private"),         # benchmarking
    ("fc00::1", True, "private"),             # unique local
    ("::7f00:1", True, "reserved"),           # IPv4-compatible (deprecated)
    ("::ffff:10.0.0.1", False, "10.0.0.1, a private"),
    ("::ffff:169.254.169.254", True, "169.254.169.254, a cloud metadata"),
    ("::ffff:127.0.0.1", False, "127.0.0.1, a loopback"),
    ("::ffff:127.0.0.1", True, None),
    ("::ffff:8.8.8.8", False, None),
    ("2002:a9fe:a9fe::1", False, "169.254.169.254, a cloud metadata"),  # 6to4
    ("64:ff9b::a00:1", False, "10.0.0.1, a private"),                 # NAT64
    ("64:ff9b::808:808", False, None),
    ("not-an-ip", False, "not an IP address"),
])
def test_only_public_addresses_are_allowed_and_loopback_only_in_local_mode(ip, local_mode, refused):
    problem = wh.address_refusal(ip, local_mode)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem and ip in problem


@pytest.mark.parametrize("url, local_mode, problem", [
    ("https://hooks.example.com/livedrop?x=1", False, None),
    ("https://HOOKS.Example.com:8443/a", False, None),
    ("https://b\u00fccher.example/hook", False, None),
    ("http://hooks.example.com/", False, "https"),
    ("http://127.0.0.1:9000/hook", True, None),
    ("http://localhost:9000/hook", True, None),
    ("https://127.0.0.1/hook", False, "loopback"),
    ("https://localhost/hook", False, "local machine"),
    ("https://api.localhost/hook", False, "local machine"),
    ("https://[::1]:8443/", False, "loopback"),
    ("https://[::ffff:a9fe:a9fe]/", True, "metadata"),
    ("https://169.254.169.254/latest/meta-data/", True, "metadata"),
    ("https://10.1.2.3/", True, "private"),
    ("https://127.1/", True, "non-standard"),
    ("https://2130706433/", False, "non-standard"),
    ("https://0x7f.0.0.1/", False, "non-standard"),
    ("ftp://hooks.example.com/", True, "https or http"),
    ("hooks.example.com/hook", False, "https"),
    ("https:///hook", False, "host"),
    ("https://user:pw@hooks.example.com/", False, "user name"),
    ("https://hooks.example.com@evil.example/", False, "user name"),
    ("https://hooks.example.com/#top", False, "fragment"),
    ("https://hooks.example.com/#", False, "fragment"),
    ("https://hooks.example.com:0/", False, "port"),
    ("https://hooks.example.com:70000/", False, "not valid"),
    ("https://[::1/", False, "not valid"),
    ("https://hooks.example.com/a b", False, "spaces"),
    ("https://hooks.example.com/\r\nX-Evil: 1", False, "control"),
    ("https://exa%mple.com/", False, "not a valid name"),
    ("https://hooks.example.com/" + "a" * 2048, False, "2048"),
])
def test_url_problems(url, local_mode, problem):
    found = wh.url_problem(url, local_mode)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_url_of_exactly_the_maximum_length_is_allowed():
    url = "https://hooks.example.com/"
    assert wh.url_problem(url + "a" * (wh.MAX_URL_LENGTH - len(url)), False) is None


# --- which changes are events ---------------------------------------------------------------------------------


def test_the_event_types():
    assert set(wh.EVENT_TYPES) == {"order.reserved", "order.paid", "order.cancelled", "order.expired", "order.refunded",
                                   "drop.opened", "drop.sold_out", "session.live", "session.ended",
                                   "product.featured"}
    assert wh.PING == "ping" and wh.PING not in wh.EVENT_TYPES


@pytest.mark.parametrize("old, new, event", [
    (None, "reserved", "order.reserved"),
    (None, "paid", None),
    ("reserved", "paid", "order.paid"),
    ("paying", "paid", "order.paid"),
    ("reserved", "cancelled", "order.cancelled"),
    ("reserved", "expired", "order.expired"),
    ("reserved", "paying", None),
    ("paying", "reserved", None),     # a failed payment: the order is held again, no news
    ("reserved", "reserved", None),   # another write of the same state
    ("paid", "paid", None),
])
def test_order_events(old, new, event):
    assert wh.order_event(old, new) == event


def test_a_refund_is_an_event_once_when_it_is_recorded():
    """The capture's write and the refund's request leave the order paid: only the write that
    records the refund is `order.refunded`, and a later write of the refunded order is not."""
    assert wh.is_refund(None, "2026-11-23T10:00:00.000Z")
    assert not wh.is_refund(None, None)
    assert not wh.is_refund("2026-11-23T10:00:00.000Z", "2026-11-23T10:00:00.000Z")


@pytest.mark.parametrize("old, new, event", [
    ("scheduled", "live", "session.live"),
    ("live", "ended", "session.ended"),
    ("scheduled", "ended", "session.ended"),
    (None, "scheduled", None),
    ("live", "live", None),
    ("ended", "ended", None),
])
def test_session_events(old, new, event):
    assert wh.session_event(old, new) == event


def test_timeline_events_and_sequences():
    assert [wh.timeline_event(t) for t in ("feature", "drop_open", "sold_out", "stock", "other")] == [
        "product.featured", "drop.opened", "drop.sold_out", None, None]
    assert wh.SESSION_SEQUENCE["scheduled"] < wh.SESSION_SEQUENCE["live"] < wh.SESSION_SEQUENCE["ended"]
    assert wh.DROP_SEQUENCE["drop.opened"] < wh.DROP_SEQUENCE["drop.sold_out"]
