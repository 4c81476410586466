#!/usr/bin/env python3
"""Check a Livedrop draw from what its API publishes, with nothing of Livedrop's code.

    python3 scripts/verify_draw.py <api base url> <session id> <product id> [--seed-hash <hex>]
                                   [--entrant <shopper id>]...

Fetches GET /v1/sessions/<session>/drops/<product>/draw (every page of entrants), then checks:
the seed revealed hashes (SHA-256 of its text, hex) to the seedHash published before the draw;
the entrants are sorted, each once, as many as the draw counted; the winners are the first
`units` entrants ranked by HMAC-SHA256(key = seed text, message = shopper id) in hex, ties by
shopper id; and each `--entrant` is listed (leaving out an entrant who would not have won changes
no winner: only that shopper can tell, so an entrant checks their own id). `--seed-hash` is the
seedHash you recorded before the draw (from this same route while entries were open): without it,
the check can only compare the seed with the hash the server shows now, which a server that
swapped its seed would show too. Prints what it found;
exits 0 when everything matches, 1 on any mismatch, 2 when the draw can not be checked (not drawn
yet, or the API could not be read).

Standard library only, on purpose: it is an independent second implementation of the rule in
chalicelib/domain/draws.py (README: "Draw drops").
"""
from __future__ import annotations

import hashlib
import hmac
import json
import sys
import urllib.parse
import urllib.request
from typing import Any, Callable

Fetch = Callable[[str], dict]


def fetch_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def recompute(seed: str, entrants: list[str], units: int) -> list[str]:
    def ticket(shopper_id: str) -> str:
        return hmac.new(seed.encode("ascii"), shopper_id.encode("utf-8"), hashlib.sha256).hexdigest()

    return sorted(entrants, key=lambda shopper_id: (ticket(shopper_id), shopper_id))[:units]


def read_draw(base: str, session_id: str, product_id: str, fetch: Fetch) -> tuple[dict, list[str]]:
    """The draw's first page, and every entrant over all its pages."""
    path = (f"/v1/sessions/{urllib.parse.quote(session_id, safe='')}/drops/"
            f"{urllib.parse.quote(product_id, safe='')}/draw")
    first = fetch(base.rstrip("/") + path)
    entrants = list(first.get("entrants") or [])
    for page in range(1, int(first.get("entrantsPages") or 1)):
        entrants += fetch(f"{base.rstrip('/')}{path}?page={page}").get("entrants") or []
    return first, entrants


def check(draw: dict, entrants: list[str], expected_entrants: list[str] = (),
          recorded_hash: str | None = None) -> list[str]:
    """Every mismatch found, in words; none when the draw is what its seed and entrants make."""
    problems = [f"{shopper_id} entered but is not among the entrants"
                for shopper_id in expected_entrants if shopper_id not in set(entrants)]
    if recorded_hash is not None and recorded_hash.lower() != draw.get("seedHash"):
        problems.append(f"the seedHash shown now, {draw.get('seedHash')}, is not the one recorded before the draw")
    seed, seed_hash = draw.get("seed"), draw.get("seedHash")
    if not isinstance(seed, str) or hashlib.sha256(seed.encode("ascii")).hexdigest() != seed_hash:
        problems.append(f"SHA-256 of the revealed seed is not the published seedHash {seed_hash}")
    if entrants != sorted(set(entrants)):
        problems.append("the entrants are not sorted, or someone is listed twice")
    if len(entrants) != draw.get("entrantCount"):
        problems.append(f"{len(entrants)} entrants published, the draw counted {draw.get('entrantCount')}")
    winners = draw.get("winners") or []
    if isinstance(seed, str):
        expected = recompute(seed, sorted(set(entrants)), int(draw.get("units") or 0))
        if winners != expected:
            missing = [w for w in expected if w not in winners]
            extra = [w for w in winners if w not in expected]
            problems.append(f"the winners differ from the recomputed ones (not drawn: {missing}; "
                            f"drawn but not recomputed: {extra}; or another order)")
    return problems


def main(argv: list[str], fetch: Fetch = fetch_json, out: Any = sys.stdout) -> int:
    positional, expected_entrants, recorded = [], [], []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--entrant":
            expected_entrants.append(next(arguments, ""))
        elif argument == "--seed-hash":
            recorded.append(next(arguments, ""))
        else:
            positional.append(argument)
    if len(positional) != 3 or "" in expected_entrants or "" in recorded or len(recorded) > 1:
        print(__doc__, file=out)
        return 2
    base, session_id, product_id = positional
    try:
        draw, entrants = read_draw(base, session_id, product_id, fetch)
    except Exception as error:  # any failure to read is "can not check", never "verified"
        print(f"could not read the draw: {error}", file=out)
        return 2
    if draw.get("state") != "drawn":
        print(f"not drawn yet (state {draw.get('state')!r}); seedHash {draw.get('seedHash')}", file=out)
        return 2
    problems = check(draw, entrants, expected_entrants, recorded[0] if recorded else None)
    print(f"draw of {product_id} in {session_id}: {len(entrants)} entrants, {draw.get('units')} units, "
          f"{len(draw.get('winners') or [])} winners, drawn at {draw.get('drawnAt')}", file=out)
    print(f"seed {draw.get('seed')}\nseedHash {draw.get('seedHash')}", file=out)
    for problem in problems:
        print(f"MISMATCH: {problem}", file=out)
    if not problems:
        print("OK: the seed matches its hash and the winners are the ones the seed and the entrants give", file=out)
        if not recorded:
            print("(no --seed-hash given: the seed was checked against the hash shown now, not one you recorded "
                  "before the draw)", file=out)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
