"""The draw rule (chalicelib/domain/draws.py): reproducible, independent of entry order, ties by id."""
import random

from hypothesis import given, strategies as st

from chalicelib.domain import draws

SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
# Computed with OpenSSL, not with this code: `printf %s shp_alice | openssl dgst -sha256 -hmac "$SEED"`
# and `printf %s "$SEED" | sha256sum`.
TICKETS = {
    "shp_alice": "7a617534185f31c7b3e344af11a4f2de0c1aa513ca4b359b2d7fefef8a16ab6f",
    "shp_bob": "bc1d4223882c4d9d330ff22ea9a08a8a5bfa937bbeb1d7ab2436380484ff2bbd",
    "shp_carol": "c30e3607986a733fd7cd910e9138310afded27c5552e676fb6c339fa36989ce1",
    "shp_dave": "3cbf769bddf9359c69b138bbca56df5c8fcd8b617ac48d4cb3b5eb0ca36829ca",
}
SEED_HASH = "6c86c6aac5fb24bcf5d9939cb7d7d5645ce39418f449e03b262dd4fa14b4b92b"

shopper_ids = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=30),
                       max_size=60)


def test_tickets_and_commitment_match_an_independent_implementation():
    assert {shopper: draws.ticket(SEED, shopper) for shopper in TICKETS} == TICKETS
    assert draws.commitment(SEED) == SEED_HASH


def test_the_rank_is_by_ticket_and_the_first_units_win():
    assert draws.rank(SEED, TICKETS) == ["shp_dave", "shp_alice", "shp_bob", "shp_carol"]
    assert draws.winners(SEED, TICKETS, 2) == ["shp_dave", "shp_alice"]


def test_fewer_entrants_than_units_all_win_and_no_one_wins_twice():
    entrants = ["shp_bob", "shp_alice", "shp_bob"]
    assert draws.winners(SEED, entrants, 5) == ["shp_alice", "shp_bob"]
    assert draws.winners(SEED, [], 5) == [] and draws.winners(SEED, entrants, 0) == []


@given(shopper_ids, st.randoms(use_true_random=False))
def test_entry_order_plays_no_part(entrants, rng):
    shuffled = list(entrants)
    rng.shuffle(shuffled)
    assert draws.rank(SEED, shuffled) == draws.rank(SEED, entrants)
    assert sorted(draws.rank(SEED, entrants)) == sorted(set(entrants))


def test_the_same_seed_and_entrants_always_give_the_same_winners_and_another_seed_others():
    entrants = [f"shp_{n:04d}" for n in range(200)]
    first = draws.winners(SEED, entrants, 20)
    assert draws.winners(SEED, list(reversed(entrants)), 20) == first
    assert draws.winners(draws.new_seed(), entrants, 20) != first  # 200 choose 20: never equal by chance


def test_equal_tickets_are_ordered_by_shopper_id(monkeypatch):
    monkeypatch.setattr(draws, "ticket", lambda seed, shopper_id: "same")
    assert draws.rank(SEED, ["shp_c", "shp_a", "shp_b"]) == ["shp_a", "shp_b", "shp_c"]


def test_due_from_opens_at_on():
    assert not draws.due("2026-11-22T19:59:59.999Z", "2026-11-22T20:00:00.000Z")
    assert draws.due("2026-11-22T20:00:00.000Z", "2026-11-22T20:00:00.000Z")
    assert draws.due("2026-11-22T20:00:00.001Z", "2026-11-22T20:00:00.000Z")
    assert not draws.due("2026-11-22T20:00:00.000Z", None)


def test_entrants_are_published_in_id_order_in_pages():
    entrants = [f"shp_{n:05d}" for n in range(draws.ENTRANTS_PER_PAGE * 2 + 1)]
    random.Random(7).shuffle(entrants)
    pages = draws.pages(entrants + entrants[:3])
    assert [len(page) for page in pages] == [draws.ENTRANTS_PER_PAGE, draws.ENTRANTS_PER_PAGE, 1]
    assert sum(pages, []) == sorted(set(entrants))
    assert draws.pages([]) == [[]]
