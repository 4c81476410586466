"""Draw drops on DynamoDB Local through the API (the Chalice test client, the clock moved): shoppers
enter, opensAt passes, the draw is made once, each winner holds one reservation, stock is
conserved, the seed stays secret until then, and scripts/verify_draw.py checks the draw."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.domain import draws
from chalicelib.domain.clock import to_iso
from tests.conftest import conservation, make_product, make_session, make_shopper

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "verify_draw.py"
HOUR = 3600


def draw_path(session_id, product_id):
    return f"/v1/sessions/{session_id}/drops/{product_id}/draw"


def add_draw_drop(api, key, clock, units=4, stock=10):
    product = make_product(api, key, stock=stock)
    session = make_session(api, key)
    opens_at = to_iso(clock.now() + timedelta(seconds=HOUR))
    added = api.post(f"/v1/sessions/{session['id']}/lineup",
                     {"productId": product["id"], "quantity": units, "mode": "draw", "opensAt": opens_at}, key=key)
    assert added.status_code == 201, added.body
    return session, product, added


def enter(api, session_id, product_id, count):
    shoppers = [make_shopper(api) for _ in range(count)]
    for shopper in shoppers:
        joined = api.post(f"/v1/sessions/{session_id}/drops/{product_id}/entries", key=shopper["token"])
        assert joined.status_code == 201, joined.body
    return shoppers


def stored_seed(session_id, product_id):
    """The seed as stored (the API never shows it before the draw)."""
    from chalicelib.adapters.dynamodb.models import LineupModel

    return LineupModel.get(session_id, product_id, consistent_read=True).draw_seed


def listing_page_with(api, path, session_id):
    """The page of a public listing that holds the session: the shared tables list many before it."""
    cursor = None
    while True:
        page = api.get(path + (f"&cursor={cursor}" if cursor else ""))
        cursor = page.json["nextCursor"] if page.status_code == 200 else None
        if session_id in [s["id"] for s in page.json.get("items", [])] or not cursor:
            return page


def winner_order(api, shopper, session_id, product_id):
    return api.get(f"/v1/orders/{draws.winner_order_id(shopper['shopperId'], session_id, product_id)}",
                   key=shopper["token"])


def test_a_draw_from_entries_to_reservations(api, brand, clock, log_buffer):
    key = brand["apiKey"]
    session, product, _ = add_draw_drop(api, key, clock, units=4)
    shoppers = enter(api, session["id"], product["id"], 12)
    path = draw_path(session["id"], product["id"])
    seed = stored_seed(session["id"], product["id"])

    before = api.get(path)
    assert before.status_code == 200, before.body
    assert before.json["state"] == "open" and before.json["seed"] is None and before.json["winners"] is None
    assert before.json["seedHash"] == hashlib.sha256(seed.encode()).hexdigest()
    early = api.post(path, key=key)
    assert early.status_code == 409 and early.json["type"].endswith("/draw_not_due"), early.body
    assert early.json["opensAt"] == before.json["opensAt"]

    clock.advance(HOUR)
    assert api.get(path).json["state"] == "open"  # due, but a read never makes the draw
    assert api.post(path, key=key).status_code == 200  # the owner's POST (or the minute's run) does
    after = api.get(path)
    assert after.status_code == 200, after.body
    drawn = after.json
    everyone = sorted(s["shopperId"] for s in shoppers)
    assert drawn["state"] == "drawn" and drawn["seed"] == seed and drawn["seedHash"] == before.json["seedHash"]
    assert drawn["entrants"] == everyone and drawn["entrantCount"] == 12 and drawn["entrantsPages"] == 1
    assert drawn["winners"] == draws.winners(seed, everyone, 4) and drawn["units"] == 4 and drawn["allocated"]
    assert drawn["drawnAt"] == to_iso(clock.now())
    from chalicelib.adapters.dynamodb.models import DrawModel

    closed = DrawModel.get(f"{session['id']}#{product['id']}", "#closed", consistent_read=True)
    assert closed.closed_at == drawn["drawnAt"]  # entries were marked closed before they were read

    winners = {s["shopperId"]: s for s in shoppers if s["shopperId"] in drawn["winners"]}
    for shopper in shoppers:
        held = winner_order(api, shopper, session["id"], product["id"])
        if shopper["shopperId"] in winners:
            assert held.status_code == 200, held.body
            assert held.json["status"] == "reserved" and held.json["items"][0]["quantity"] == 1
        else:
            assert held.status_code == 404
    assert conservation(session["id"], product["id"], 4) == (0, 4)

    # The brand's POST, the scheduled run and another read change nothing: the draw is made once.
    again = api.post(path, key=key)
    assert again.status_code == 200 and again.json == drawn
    from app import run_draws
    from tests.integration.test_edge_events import scheduled

    run_draws(scheduled("draws-1"), None)
    assert api.get(path).json == drawn
    assert conservation(session["id"], product["id"], 4) == (0, 4)
    assert '"message":"draw made"' in log_buffer.getvalue()


def test_fewer_entrants_than_units_all_win_the_rest_stay_in_the_drop(api, brand, clock):
    session, product, _ = add_draw_drop(api, brand["apiKey"], clock, units=5)
    shoppers = enter(api, session["id"], product["id"], 2)
    clock.advance(HOUR)
    from app import run_draws
    from tests.integration.test_edge_events import scheduled

    assert run_draws(scheduled("draws-2"), None)["finished"] >= 1
    drawn = api.get(draw_path(session["id"], product["id"])).json
    assert sorted(drawn["winners"]) == sorted(s["shopperId"] for s in shoppers)
    for shopper in shoppers:
        assert winner_order(api, shopper, session["id"], product["id"]).status_code == 200
    assert conservation(session["id"], product["id"], 5) == (3, 2)


def test_runs_racing_make_one_draw_and_one_order_per_winner(api, brand, clock):
    from chalicelib.bootstrap import services

    session, product, _ = add_draw_drop(api, brand["apiKey"], clock, units=6)
    shoppers = enter(api, session["id"], product["id"], 15)
    clock.advance(HOUR)
    start, results, errors = threading.Barrier(6), [], []

    def run():
        try:
            start.wait()
            results.append(services().draws.run(session["id"], product["id"]))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len({draw.id for draw in results}) == 1 and all(draw.allocated_all for draw in results)
    drawn = api.get(draw_path(session["id"], product["id"])).json
    assert drawn["winners"] == list(results[0].winners) and len(drawn["winners"]) == 6
    for shopper in shoppers:
        expected = 200 if shopper["shopperId"] in drawn["winners"] else 404
        assert winner_order(api, shopper, session["id"], product["id"]).status_code == expected
    assert conservation(session["id"], product["id"], 6) == (0, 6)


def test_a_crash_after_the_draw_is_finished_by_the_next_run(api, brand, clock, monkeypatch):
    from chalicelib.bootstrap import services

    session, product, _ = add_draw_drop(api, brand["apiKey"], clock, units=3)
    shoppers = enter(api, session["id"], product["id"], 5)
    clock.advance(HOUR)
    draws_service = services().draws
    real = draws_service.reserve_for_winner
    calls = []

    def dying(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("the container died")
        return real(*args)

    monkeypatch.setattr(draws_service, "reserve_for_winner", dying)
    with pytest.raises(RuntimeError):
        draws_service.run(session["id"], product["id"])
    monkeypatch.undo()
    assert conservation(session["id"], product["id"], 3) == (2, 1)
    assert draws_service.run_due(limit=1000) >= 1
    drawn = api.get(draw_path(session["id"], product["id"])).json
    assert drawn["allocated"] and len(drawn["winners"]) == 3
    for shopper in shoppers:
        expected = 200 if shopper["shopperId"] in drawn["winners"] else 404
        assert winner_order(api, shopper, session["id"], product["id"]).status_code == expected
    assert conservation(session["id"], product["id"], 3) == (0, 3)


def test_the_seed_is_in_no_answer_and_no_log_line_before_the_draw(api, brand, other_brand, clock, log_buffer,
                                                                  monkeypatch):
    from chalicelib.adapters.dynamodb import LineupRepository

    key = brand["apiKey"]
    session, product, added = add_draw_drop(api, key, clock)
    seed = stored_seed(session["id"], product["id"])
    entrant = enter(api, session["id"], product["id"], 3)[0]
    sid, pid = session["id"], product["id"]
    answers = [added, api.get(f"/v1/sessions/{sid}"), api.get(f"/v1/sessions/{sid}", key=key),
               api.get(f"/v1/sessions/{sid}/live"), api.get("/v1/brand/sessions?status=scheduled", key=key),
               listing_page_with(api, "/v1/sessions?status=scheduled", sid), api.get(draw_path(sid, pid)),
               api.get(draw_path(sid, pid), key=key), api.post(draw_path(sid, pid), key=key),
               api.post(draw_path(sid, pid), key=other_brand["apiKey"]),
               api.get(draw_path(sid, pid) + "?page=3"),
               api.patch(f"/v1/sessions/{sid}/lineup/{pid}", {"holdSeconds": 300}, key=key),
               api.get(f"/v1/sessions/{sid}/drops/{pid}/entries/me", key=entrant["token"]),
               api.get("/v1/openapi.json")]
    assert [a.status_code for a in answers] == [201] + [200] * 7 + [409, 404] + [200] * 4
    assert sid in [s["id"] for s in answers[5].json["items"]]  # the listing's answer shows this show

    # A failure that carries the lineup item into the log (a 500): its repr leaves the seed out.
    failed = []

    def failing_add(self, item, status):
        failed.append(item)
        raise RuntimeError(f"injected failure adding {item!r}")

    monkeypatch.setattr(LineupRepository, "add_taking_stock", failing_add)
    other = make_product(api, key)
    response = api.post(f"/v1/sessions/{sid}/lineup", {"productId": other["id"], "mode": "draw",
                                                       "opensAt": answers[0].json["opensAt"]}, key=key)
    monkeypatch.undo()
    assert response.status_code == 500 and failed and failed[0].draw_seed
    logged = log_buffer.getvalue()
    assert "injected failure adding LineupItem(" in logged  # the logs were captured
    for secret in (seed, failed[0].draw_seed):
        assert all(secret not in answer.body.decode() for answer in answers)
        assert secret not in logged
    clock.advance(HOUR)
    assert api.post(draw_path(sid, pid), key=brand["apiKey"]).status_code == 200
    assert api.get(draw_path(sid, pid)).json["seed"] == seed  # and once drawn, it is published


def test_a_draw_drop_needs_opens_at_and_at_most_max_units(api, brand, clock):
    key = brand["apiKey"]
    product = make_product(api, key, stock=draws.MAX_DRAW_UNITS + 1)
    session = make_session(api, key)
    lineup = f"/v1/sessions/{session['id']}/lineup"
    opens_at = to_iso(clock.now() + timedelta(seconds=HOUR))
    too_many = api.post(lineup, {"productId": product["id"], "mode": "draw", "opensAt": opens_at}, key=key)
    assert too_many.status_code == 400 and too_many.json["field"] == "quantity", too_many.body
    no_time = api.post(lineup, {"productId": product["id"], "mode": "draw", "quantity": 3}, key=key)
    assert no_time.status_code == 400 and no_time.json["field"] == "opensAt"


def test_no_draw_for_an_open_drop_or_a_stranger(api, brand, clock):
    from tests.conftest import live_drop

    session, product = live_drop(api, brand["apiKey"], quantity=2)
    answer = api.get(draw_path(session["id"], product["id"]))
    assert answer.status_code == 404 and answer.json["field"] == "productId"
    assert api.get(draw_path(session["id"], "prd_unknown")).status_code == 404
    drawn_session, drawn_product, _ = add_draw_drop(api, brand["apiKey"], clock)
    clock.advance(HOUR)
    assert api.post(draw_path(drawn_session["id"], drawn_product["id"]), key=brand["apiKey"]).status_code == 200
    page = api.get(draw_path(drawn_session["id"], drawn_product["id"]) + "?page=1")
    assert page.status_code == 200 and page.json["entrants"] == [] and page.json["entrantsPage"] == 1, page.body
    bad = api.get(draw_path(drawn_session["id"], drawn_product["id"]) + "?page=-1")
    assert bad.status_code == 400 and bad.json["field"] == "page", bad.body


# --- scripts/verify_draw.py on a real draw ------------------------------------------------------------


def load_script():
    spec = importlib.util.spec_from_file_location("verify_draw", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ApiOverHttp:
    """A local HTTP server answering GETs from the in-process app (the Chalice test client), with a
    hook to tamper with the JSON: the script runs as a program against it."""

    def __init__(self, api) -> None:
        self.tamper = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                answer = api.get(self.path)
                body = answer.json
                if owner.tamper and body is not None:
                    body = owner.tamper(body)
                data = json.dumps(body).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_the_script_verifies_a_real_draw_and_finds_a_tampered_one(api, brand, clock):
    session, product, _ = add_draw_drop(api, brand["apiKey"], clock, units=3)
    shoppers = enter(api, session["id"], product["id"], 9)
    script = load_script()
    out = io.StringIO()
    assert script.main(["http://api", session["id"], product["id"]], fetch=lambda url: api.get(url[len("http://api"):]).json,
                       out=out) == 2  # not drawn yet: nothing to verify
    clock.advance(HOUR)
    made = api.post(draw_path(session["id"], product["id"]), key=brand["apiKey"])
    assert made.status_code == 200
    genuine_winners = made.json["winners"]

    server = ApiOverHttp(api)
    try:
        def verify(*extra):
            return subprocess.run([sys.executable, str(SCRIPT), server.url, session["id"], product["id"], *extra],
                                  capture_output=True, text=True, timeout=60, cwd=ROOT)

        genuine = verify()
        assert genuine.returncode == 0, genuine.stdout + genuine.stderr
        assert "OK" in genuine.stdout
        for tamper in (lambda d: {**d, "winners": list(reversed(d["winners"]))},
                       lambda d: {**d, "seed": draws.new_seed()},
                       lambda d: {**d, "entrants": [e for e in d["entrants"] if e != d["winners"][0]],
                                  "entrantCount": d["entrantCount"] - 1},
                       lambda d: {**d, "winners": [d["entrants"][0], *d["winners"][1:]]}
                       if d["entrants"][0] not in d["winners"] else {**d, "winners": d["winners"][1:]}):
            server.tamper = tamper
            tampered = verify()
            assert tampered.returncode == 1, tampered.stdout + tampered.stderr
            assert "MISMATCH" in tampered.stdout
        # Leaving out an entrant who would not have won changes no winner: only that entrant can tell.
        left_out = next(s["shopperId"] for s in shoppers if s["shopperId"] not in genuine_winners)
        server.tamper = lambda d: {**d, "entrants": [e for e in d["entrants"] if e != left_out],
                                   "entrantCount": d["entrantCount"] - 1}
        assert verify().returncode == 0
        assert verify("--entrant", left_out).returncode == 1
        server.tamper = None
        assert verify("--entrant", left_out).returncode == 0
    finally:
        server.close()


def test_each_entrant_reads_their_outcome_and_a_winner_pays_the_order_the_draw_made(api, brand, clock):
    session, product, _ = add_draw_drop(api, brand["apiKey"], clock, units=2)
    shoppers = enter(api, session["id"], product["id"], 5)
    me = f"/v1/sessions/{session['id']}/drops/{product['id']}/entries/me"
    assert {api.get(me, key=s["token"]).json["state"] for s in shoppers} == {"entered"}
    buying = api.post("/v1/orders", {"sessionId": session["id"], "items": [{"productId": product["id"], "quantity": 1}]},
                      key=shoppers[0]["token"], headers={"Idempotency-Key": "not-by-draw"})
    assert buying.status_code == 409 and buying.json["type"].endswith("/drop_by_draw")
    clock.advance(HOUR)
    assert api.get(me, key=shoppers[0]["token"]).json["state"] == "entered"  # a poll never makes the draw
    assert api.get(draw_path(session["id"], product["id"])).json["state"] == "open"  # nor a read of the draw
    assert api.post(draw_path(session["id"], product["id"]), key=brand["apiKey"]).json["state"] == "drawn"
    outcomes = {s["shopperId"]: api.get(me, key=s["token"]).json for s in shoppers}
    won = [s for s in shoppers if outcomes[s["shopperId"]]["state"] == "won"]
    assert len(won) == 2 and sum(o["state"] == "not_won" for o in outcomes.values()) == 3
    for winner in won:
        order_id = outcomes[winner["shopperId"]]["orderId"]
        assert order_id == draws.winner_order_id(winner["shopperId"], session["id"], product["id"])
        paid = api.post(f"/v1/orders/{order_id}/pay", {"paymentToken": "ok"}, key=winner["token"])
        assert paid.status_code == 200 and paid.json["status"] == "paid", paid.body
    assert all(o["orderId"] is None for o in outcomes.values() if o["state"] == "not_won")
    report = api.get(f"/v1/sessions/{session['id']}/analytics", key=brand["apiKey"]).json
    assert report["products"][0]["entrants"] == {"mode": "draw", "entries": 5, "admitted": None, "winners": 2}
    assert conservation(session["id"], product["id"], 2) == (0, 2)
