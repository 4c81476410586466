"""Queue drops: shoppers join before (or while) a drop is open and buy when admitted.

Positions come from the drop's position counters: counter k of S hands out 1, 2, 3... and its
n-th number is position (n - 1) * S + k + 1, so the counters never give the same position and
with one counter positions are 1, 2, 3... in join order. With several, positions are in join
order per counter only, and a counter that ran ahead leaves gaps in the others' numbers.
"""
from __future__ import annotations


def position_of(count: int, counter: int, counters: int) -> int:
    """The position counter `counter` (of `counters`) gives as its `count`-th number (from 1)."""
    return (count - 1) * counters + counter + 1
