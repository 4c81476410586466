"""Queue and draw entries through the API on DynamoDB Local: joining, the refusals, and where an
entry stands as the queue admits. 1,000 entrants over real HTTP are in tests/e2e/test_queue_spike.py."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.clock import to_iso
from chalicelib.domain.queues import ADMISSION_SECONDS
from tests.conftest import live_drop, make_shopper, order


def entries_path(session_id: str, product_id: str) -> str:
    return f"/v1/sessions/{session_id}/drops/{product_id}/entries"


def join(api, shopper, session_id, product_id):
    return api.post(entries_path(session_id, product_id), key=shopper["token"])


def me(api, shopper, session_id, product_id):
    return api.get(entries_path(session_id, product_id) + "/me", key=shopper["token"])


def problem_code(response) -> str:
    return response.json["type"].rsplit("/", 1)[1]


def test_joins_are_numbered_in_order_and_joining_again_answers_the_first_entry(api, brand):
    session, product = live_drop(api, brand["apiKey"], quantity=5, start=False, mode="queue")
    shoppers = [make_shopper(api) for _ in range(4)]
    joined = [join(api, s, session["id"], product["id"]) for s in shoppers]
    assert [r.status_code for r in joined] == [201] * 4
    assert [r.json["position"] for r in joined] == [1, 2, 3, 4]
    assert joined[0].json == {"sessionId": session["id"], "productId": product["id"], "position": 1,
                              "joinedAt": joined[0].json["joinedAt"]}
    again = join(api, shoppers[1], session["id"], product["id"])
    assert again.status_code == 200 and again.json == joined[1].json
    assert join(api, make_shopper(api), session["id"], product["id"]).json["position"] == 5


def test_the_refusals_name_their_reason(api, brand):
    key = brand["apiKey"]
    shopper = make_shopper(api)
    queue_session, queue_product = live_drop(api, key, start=False, mode="queue")
    missing = join(api, shopper, queue_session["id"], "prd_" + "0" * 22)
    assert missing.status_code == 404 and missing.json["field"] == "productId"
    open_session, open_product = live_drop(api, key)
    not_a_queue = join(api, shopper, open_session["id"], open_product["id"])
    assert not_a_queue.status_code == 409 and problem_code(not_a_queue) == "not_a_queue"
    assert not_a_queue.json["productId"] == open_product["id"]
    assert problem_code(me(api, shopper, open_session["id"], open_product["id"])) == "not_a_queue"
    verified_session, verified_product = live_drop(api, key, start=False, mode="queue", verifiedOnly=True)
    anonymous = join(api, shopper, verified_session["id"], verified_product["id"])
    assert anonymous.status_code == 403 and problem_code(anonymous) == "verification_required"
    assert anonymous.headers["Content-Type"] == "application/problem+json"
    assert api.post(entries_path(queue_session["id"], queue_product["id"])).status_code == 401
    assert me(api, shopper, queue_session["id"], queue_product["id"]).status_code == 404  # not entered


def test_a_closed_queue_takes_no_entries_but_answers_an_entrant_joining_again(api, brand):
    session, product = live_drop(api, brand["apiKey"], mode="queue")
    early = make_shopper(api)
    first = join(api, early, session["id"], product["id"])
    assert api.post(f"/v1/sessions/{session['id']}/end", key=brand["apiKey"]).status_code == 200
    closed = join(api, make_shopper(api), session["id"], product["id"])
    assert closed.status_code == 409 and problem_code(closed) == "drop_closed"
    again = join(api, early, session["id"], product["id"])
    assert again.status_code == 200 and again.json == first.json
    assert me(api, early, session["id"], product["id"]).json["state"] == "closed"


def test_a_draw_takes_entries_until_its_opening_time(api, brand, clock):
    opens_at = to_iso(clock.now() + timedelta(minutes=10))
    session, product = live_drop(api, brand["apiKey"], start=False, mode="draw", opensAt=opens_at)
    entrant = make_shopper(api)
    assert join(api, entrant, session["id"], product["id"]).status_code == 201
    entered = me(api, entrant, session["id"], product["id"])
    assert entered.json["state"] == "entered" and entered.json["admission"] is None
    clock.advance(600)
    late = join(api, make_shopper(api), session["id"], product["id"])
    assert late.status_code == 409 and problem_code(late) == "entries_closed" and late.json["opensAt"] == opens_at


def test_the_queue_admits_the_first_units_worth_when_it_opens_then_the_next_when_their_admission_ends(
        api, brand, clock):
    session, product = live_drop(api, brand["apiKey"], quantity=2, start=False, mode="queue")
    shoppers = [make_shopper(api) for _ in range(5)]
    for shopper in shoppers:
        join(api, shopper, session["id"], product["id"])
    waiting = me(api, shoppers[3], session["id"], product["id"])
    assert waiting.status_code == 200 and waiting.headers["Cache-Control"] == "no-store"
    assert waiting.json == {"sessionId": session["id"], "productId": product["id"], "position": 4,
                            "joinedAt": waiting.json["joinedAt"], "state": "waiting", "ahead": 3,
                            "admission": None, "admissionExpiresAt": None, "orderId": None}
    assert api.post(f"/v1/sessions/{session['id']}/start", key=brand["apiKey"]).status_code == 200
    clock.advance(1)
    states = [me(api, s, session["id"], product["id"]).json for s in shoppers]
    assert [s["state"] for s in states] == ["admitted", "admitted", "waiting", "waiting", "waiting"]
    assert [s["ahead"] for s in states] == [None, None, 0, 1, 2]
    assert states[0]["admission"].startswith("adm.") and states[0]["admissionExpiresAt"] == to_iso(
        clock.now() + timedelta(seconds=ADMISSION_SECONDS))
    without = order(api, shoppers[2], session["id"], product["id"])  # not admitted: no order
    assert without.status_code == 403 and without.json["type"].endswith("/admission_required")
    someone_elses = api.post("/v1/orders", {"sessionId": session["id"], "admission": states[0]["admission"],
                                            "items": [{"productId": product["id"], "quantity": 1}]},
                             key=shoppers[2]["token"], headers={"Idempotency-Key": "borrowed"})
    assert someone_elses.status_code == 403  # an admission is bound to its shopper
    bought = api.post("/v1/orders", {"sessionId": session["id"], "admission": states[0]["admission"],
                                     "items": [{"productId": product["id"], "quantity": 1}]},
                      key=shoppers[0]["token"], headers={"Idempotency-Key": "admitted"})
    assert bought.status_code == 201  # one of the two buys
    clock.advance(ADMISSION_SECONDS - 1)
    assert me(api, shoppers[2], session["id"], product["id"]).json["state"] == "waiting"  # the other may still buy
    clock.advance(1)
    states = [me(api, s, session["id"], product["id"]).json["state"] for s in shoppers]
    assert states == ["lapsed", "lapsed", "admitted", "waiting", "waiting"]  # one unit left: one more admitted
    report = api.get(f"/v1/sessions/{session['id']}/analytics", key=brand["apiKey"]).json
    (figures,) = report["products"]
    assert figures["entrants"] == {"mode": "queue", "entries": 5, "admitted": 3, "winners": None}


def test_a_poll_is_one_read_and_the_seconds_step_one_read_and_one_write_more(api, brand, clock, aws_calls):
    session, product = live_drop(api, brand["apiKey"], quantity=2, mode="queue")
    first, second = make_shopper(api), make_shopper(api)
    join(api, first, session["id"], product["id"])
    aws_calls.log.clear()
    assert join(api, second, session["id"], product["id"]).status_code == 201
    assert sorted(aws_calls.log) == sorted(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem",
                                            "dynamodb:PutItem"])  # the shards, the entry, a number, the entry
    clock.advance(1)
    aws_calls.log.clear()
    assert me(api, first, session["id"], product["id"]).json["state"] == "admitted"
    assert sorted(aws_calls.log) == ["dynamodb:BatchGetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
    aws_calls.log.clear()
    assert me(api, second, session["id"], product["id"]).json["state"] == "admitted"
    assert aws_calls.log == ["dynamodb:BatchGetItem"]  # the entry, #queue and the counters
