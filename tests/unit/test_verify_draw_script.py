"""scripts/verify_draw.py, its own implementation of the rule, against chalicelib's: they agree on
a genuine draw, and the script finds every kind of tampering. (Run on a real draw over the API in
tests/integration/test_draws.py.)"""
import importlib.util
import io
from pathlib import Path

import pytest

from chalicelib.domain import draws

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_draw.py"
spec = importlib.util.spec_from_file_location("verify_draw", SCRIPT)
verify_draw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_draw)

BASE = "http://api.test"
PATH = "/v1/sessions/ses_1/drops/prd_1/draw"


def published(units=7, entrants=23, per_page=10):
    """What GET .../draw publishes for a draw made by chalicelib's rule, by URL (pages of `per_page`)."""
    seed = draws.new_seed()
    everyone = sorted(f"shp_{n:03d}" for n in range(entrants))
    pages = [everyone[i:i + per_page] for i in range(0, len(everyone), per_page)] or [[]]
    first = {"productId": "prd_1", "state": "drawn", "seedHash": draws.commitment(seed), "seed": seed,
             "units": units, "entrantCount": len(everyone), "entrantsPage": 0, "entrantsPages": len(pages),
             "entrants": pages[0], "winners": draws.winners(seed, everyone, units), "drawnAt": "2026-11-22T20:00:00.000Z"}
    answers = {BASE + PATH: first}
    for number, page in enumerate(pages[1:], start=1):
        answers[f"{BASE}{PATH}?page={number}"] = {**first, "entrantsPage": number, "entrants": page}
    return answers


def run(answers, *extra):
    out = io.StringIO()
    code = verify_draw.main([BASE, "ses_1", "prd_1", *extra], fetch=answers.__getitem__, out=out)
    return code, out.getvalue()


@pytest.mark.parametrize("units, entrants", [(7, 23), (5, 3), (3, 0), (10, 10)])
def test_a_genuine_draw_verifies(units, entrants):
    code, output = run(published(units, entrants))
    assert code == 0, output
    assert "OK" in output


def tampered(change):
    answers = published()
    first = answers[BASE + PATH]
    change(first, answers)
    return answers


@pytest.mark.parametrize("change, says", [
    (lambda d, a: d.update(seed=draws.new_seed()), "seedHash"),
    (lambda d, a: d.update(winners=list(reversed(d["winners"]))), "winners differ"),
    (lambda d, a: d.update(winners=d["winners"][:-1] + ["shp_999"]), "winners differ"),
    (lambda d, a: d.update(units=d["units"] + 1), "winners differ"),
    (lambda d, a: d.update(entrants=d["entrants"][1:]), "entrants published"),
    (lambda d, a: a[f"{BASE}{PATH}?page=1"]["entrants"].append("shp_000"), "sorted"),
])
def test_any_tampering_is_a_mismatch(change, says):
    code, output = run(tampered(change))
    assert code == 1, output
    assert "MISMATCH" in output and says in output


def test_a_draw_not_made_yet_or_unreadable_can_not_be_verified():
    open_draw = {BASE + PATH: {"productId": "prd_1", "state": "open", "seedHash": "ab" * 32, "seed": None}}
    assert run(open_draw)[0] == 2
    assert run({})[0] == 2  # every fetch fails


def test_an_entrant_checks_they_are_listed():
    answers = published(units=2, entrants=5)
    assert run(answers, "--entrant", "shp_003")[0] == 0
    code, output = run(answers, "--entrant", "shp_003", "--entrant", "shp_777")
    assert code == 1 and "shp_777 entered but is not among the entrants" in output
    assert run(answers, "--entrant")[0] == 2  # no id given: usage


def test_a_seed_swapped_after_the_recorded_hash_is_caught_only_with_that_hash():
    answers = published(units=3, entrants=9)
    recorded = answers[BASE + PATH]["seedHash"]  # what an auditor saved while entries were open
    assert run(answers, "--seed-hash", recorded)[0] == 0
    swapped_seed = draws.new_seed()  # a server that swapped its seed and redrew, hash and all
    everyone = sorted(f"shp_{n:03d}" for n in range(9))
    for url in answers:
        answers[url] = {**answers[url], "seed": swapped_seed, "seedHash": draws.commitment(swapped_seed),
                        "winners": draws.winners(swapped_seed, everyone, 3)}
    code, output = run(answers)
    assert code == 0 and "no --seed-hash given" in output  # self-consistent: only the recorded hash tells
    code, output = run(answers, "--seed-hash", recorded)
    assert code == 1 and "not the one recorded before the draw" in output
    assert run(answers, "--seed-hash")[0] == 2  # no hash given: usage
