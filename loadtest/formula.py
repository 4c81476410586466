"""The shard formula the load scenario checks, and its verdict on a measured rate. Pure: the test
suite imports it without locust (whose import monkey-patches the process).

DynamoDB's documented limits: one partition, and so one item, takes at most 1,000 WCU/s; a
transactional write of an item of up to 1 KB costs 2 WCU. A one-unit checkout is one
TransactWriteItems of 4 items, 5 with a per-customer limit (chalicelib/adapters/dynamodb/orders.py
`reserve`), and only one of them is written by every buyer: the stock shard the unit is taken
from. The order (keyed by its id), the shopper's open orders and `order` rate window (keyed by the
shopper) and the per-customer count (keyed by the shopper and drop) spread over partitions.
"""
from __future__ import annotations

from chalicelib.domain.drops import CHECKOUTS_PER_SHARD_PER_SECOND

PARTITION_WCU_PER_SECOND = 1000
TRANSACTIONAL_WCU_PER_ITEM = 2  # a shard item is well under 1 KB
HOT_ITEMS_PER_CHECKOUT = 1      # one unit: one shard
# Not in the formula: every order is also one entry (under 1 KB) of the orders table's by-session
# index, all under the session's id: one index partition at 1,000 WCU/s, unless DynamoDB splits it.
INDEX_CEILING_PER_SECOND = 1000
OVER_CEILING_MARGIN = 1.05  # measured above the ceiling by more than this: the formula is wrong

__all__ = ["CHECKOUTS_PER_SHARD_PER_SECOND", "INDEX_CEILING_PER_SECOND", "formula_text", "shard_ceiling", "verdict"]


def shard_ceiling(shards: int) -> float:
    """Most checkouts/s a drop's shards can take, by the formula."""
    return shards * PARTITION_WCU_PER_SECOND / (TRANSACTIONAL_WCU_PER_ITEM * HOT_ITEMS_PER_CHECKOUT)


def formula_text(shards: int) -> str:
    return (f"{shards} shard(s) x {PARTITION_WCU_PER_SECOND:,} WCU/s / ({TRANSACTIONAL_WCU_PER_ITEM} WCU x "
            f"{HOT_ITEMS_PER_CHECKOUT} hot item per checkout) = {shard_ceiling(shards):,.0f} checkouts/s")


def verdict(shards: int, sold_per_second: float | None, offered_per_second: float | None) -> str:
    """Where the measured selling rate falls: above the ceiling (the formula is wrong), between the
    planning figure and the ceiling, or below the planning figure; and whether the run offered
    orders fast enough to test it at all (buyers can not buy faster than they arrive)."""
    ceiling, planned = shard_ceiling(shards), shards * CHECKOUTS_PER_SHARD_PER_SECOND
    offered = offered_per_second or 0.0
    if not sold_per_second:
        return "no selling phase measured (nothing sold)"
    if sold_per_second > ceiling * OVER_CEILING_MARGIN:
        return (f"ABOVE the ceiling ({sold_per_second:,.1f} > {ceiling:,.0f}/s): the formula under-estimates "
                "this stage (burst or adaptive capacity?)")
    if sold_per_second >= planned:
        untested = f"; offered {offered:,.1f}/s, so the ceiling itself was not reached" if offered < ceiling else ""
        return f"WITHIN: between the planning figure ({planned:,}/s) and the ceiling ({ceiling:,.0f}/s){untested}"
    if offered < planned:
        return (f"BELOW the planning figure ({sold_per_second:,.1f} < {planned:,}/s), but the run offered only "
                f"{offered:,.1f} orders/s: it did not test the formula (more users, a higher -r)")
    return (f"BELOW the planning figure ({sold_per_second:,.1f} < {planned:,}/s) although {offered:,.1f} "
            "orders/s were offered: something else than the shards' partitions limited the sales (503 busy "
            "counts contention on them; else the API, its functions or the load generator)")
