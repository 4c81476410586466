"""Show analytics: what a show sold, minute by minute, and what featuring a product did. Pure.

The figures are sums over orders of what each order, in its current state, contributes
(`contribution`). The stream handler applies each order transition as the difference between
the contributions of its new and old images: the differences telescope, so records applied in any
order give the same sums, and a record applied once more is refused by its marker (adapters).

Attribution: a pin shows its product from its send time plus the player's latency allowance to
the next pin's send time plus the allowance and a grace period (`feature_windows`). A paid unit
counts "while featured" when its order was reserved inside a window of its product.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from chalicelib.domain.clock import iso_ms
from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.records import Order
from chalicelib.domain.sessions import SessionStatus

MINUTE_MS = 60_000
MAX_TIMELINE_MINUTES = 1440  # a report's timeline: a day of rows at most (its totals keep everything)
OPEN = frozenset({OrderStatus.RESERVED, OrderStatus.PAYING})  # holds that may still become sales


@dataclass(frozen=True)
class Attribution:
    """How long after a pin's send time viewers see it (by the channel's latency mode), and how
    long after the next pin a sale still counts for the product before it."""
    latency_allowance_ms: int
    grace_ms: int


@dataclass(frozen=True)
class Pin:
    product_id: str
    pinned_at_ms: int
    sent_at_ms: int | None  # None: not carried by the stream (the pages show it from /live)
    delivery: str = "delivered"

    @property
    def shown_at_ms(self) -> int:
        return self.sent_at_ms if self.sent_at_ms is not None else self.pinned_at_ms


@dataclass(frozen=True)
class Window:
    pin: Pin
    start_ms: int
    end_ms: int | None  # None: no later pin yet


def feature_windows(pins: Iterable[Pin], attribution: Attribution) -> list[Window]:
    """One window per pin that reached viewers (a superseded pin never did), oldest first."""
    shown = sorted((p for p in pins if p.delivery != "superseded"), key=lambda p: (p.shown_at_ms, p.pinned_at_ms))
    windows = []
    for index, pin in enumerate(shown):
        later = shown[index + 1] if index + 1 < len(shown) else None
        end = None if later is None else later.shown_at_ms + attribution.latency_allowance_ms + attribution.grace_ms
        windows.append(Window(pin, pin.shown_at_ms + attribution.latency_allowance_ms, end))
    return windows


def featured_at(windows: Sequence[Window], product_id: str, at_ms: int) -> bool:
    return any(w.pin.product_id == product_id and w.start_ms <= at_ms and (w.end_ms is None or at_ms < w.end_ms)
               for w in windows)


# --- what one order contributes -------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLineFacts:
    product_id: str
    quantity: int
    unit_amount: int


@dataclass(frozen=True)
class OrderFacts:
    """What the analytics reads of an order (one stream image of it)."""
    order_id: str
    session_id: str
    shopper_id: str
    status: OrderStatus
    currency: str
    total: int
    created_ms: int
    lines: tuple[OrderLineFacts, ...]


def facts_of(order: Order) -> OrderFacts:
    return OrderFacts(order_id=order.id, session_id=order.session_id, shopper_id=order.shopper_id,
                      status=order.status, currency=order.total.currency, total=order.total.amount,
                      created_ms=iso_ms(order.created_at),
                      lines=tuple(OrderLineFacts(line.product_id, line.quantity, line.unit_price.amount)
                                  for line in order.lines))


@dataclass(frozen=True)
class OrderChange:
    """One stream record of the orders table: `record_id` names it for good (its sequence number),
    so a redelivery is known as one."""
    record_id: str
    order_id: str
    session_id: str
    old: OrderFacts | None
    new: OrderFacts | None


# A figure's address: (row, field). Rows: ("currency", CUR), ("minute", minute, CUR),
# ("product", productId) and ("buyer", CUR, shopperId) — the last is a shopper's paid orders, of
# which only "is it above zero" reaches the report (`buyers`).
Cell = tuple[tuple[str, ...], str]


def outcome(status: OrderStatus) -> str:
    """The order outcomes the report counts: an order being paid is still a reservation."""
    return "reserved" if status in OPEN else status.value


def contribution(order: OrderFacts | None, featured: Callable[[str, int], bool]) -> Counter[Cell]:
    """What an order in its current state adds to the figures. A paid order's units and value
    count in the minute of its reservation (when the show made the shopper tap), as its
    attribution does."""
    cells: Counter[Cell] = Counter()
    if order is None:
        return cells
    cur, minute = order.currency, order.created_ms // MINUTE_MS
    totals, per_minute = ("currency", cur), ("minute", str(minute), cur)
    cells[(totals, "reservations")] += 1
    cells[(totals, outcome(order.status))] += 1
    cells[(per_minute, "reservations")] += 1
    if order.status in OPEN:
        cells[(totals, "reservedValue")] += order.total
    if order.status is OrderStatus.PAID:
        units = sum(line.quantity for line in order.lines)
        cells[(totals, "gmv")] += order.total
        cells[(totals, "unitsSold")] += units
        cells[(per_minute, "paidOrders")] += 1
        cells[(per_minute, "unitsSold")] += units
        cells[(per_minute, "gmv")] += order.total
        cells[(("buyer", cur, order.shopper_id), "paidOrders")] += 1
        for line in order.lines:
            product = ("product", line.product_id)
            cells[(product, "unitsSold")] += line.quantity
            cells[(product, "gmv")] += line.quantity * line.unit_amount
            if featured(line.product_id, order.created_ms):
                cells[(product, "unitsWhileFeatured")] += line.quantity
    return cells


def change_delta(change: OrderChange, featured: Callable[[str, int], bool]) -> Counter[Cell]:
    """new - old, without the zeros: what applying this record changes."""
    delta = Counter(contribution(change.new, featured))
    delta.subtract(contribution(change.old, featured))
    return Counter({cell: value for cell, value in delta.items() if value})


def recount(orders: Iterable[OrderFacts], featured: Callable[[str, int], bool]) -> Counter[Cell]:
    """The figures counted afresh from the orders themselves: what the aggregates must equal."""
    total: Counter[Cell] = Counter()
    for order in orders:
        total.update(contribution(order, featured))
    return total


def buyers_of(cells: Mapping[Cell, int]) -> Counter[str]:
    """Distinct shoppers with a paid order, per currency."""
    return Counter(row[1] for (row, name), value in cells.items() if row[0] == "buyer" and value > 0)


# --- the report ------------------------------------------------------------------------------------


@dataclass
class Aggregates:
    """The stored figures of one show, summed over their shards."""
    cells: Counter[Cell] = field(default_factory=Counter)
    buyers: Counter[str] = field(default_factory=Counter)      # per currency
    viewers: dict[int, int] = field(default_factory=dict)      # minute -> the sample taken in it
    likes: dict[int, dict[int, int]] = field(default_factory=dict)  # minute -> like shard -> its count by then
    attribution: Attribution | None = None
    finalized_at: str | None = None


@dataclass(frozen=True)
class LineupFacts:
    product_id: str
    title: str | None
    currency: str
    allocated: int
    opens_at_ms: int | None
    closes_at_ms: int | None
    units_left: int | None  # now, from its stock shards
    last_sold_out_ms: int | None  # its last sold_out event

    @property
    def sold_out_at_ms(self) -> int | None:
        """When it sold out, if it is sold out now (units that came back make it not)."""
        return self.last_sold_out_ms if self.units_left == 0 else None


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    gmv: int
    reserved_value: int
    reservations: int
    orders: dict[str, int]
    units_sold: int
    buyers: int
    average_order_value: int | None
    checkout_completion: float | None
    likes: int
    peak_viewers: int | None
    average_viewers: float | None
    conversion: float | None


@dataclass(frozen=True)
class MinuteRow:
    minute_ms: int
    reservations: int
    paid_orders: int
    units_sold: int
    gmv: int
    likes: int
    viewers: int | None
    featured_product_id: str | None


@dataclass(frozen=True)
class ProductFigures:
    product_id: str
    title: str | None
    currency: str
    allocated: int
    units_sold: int
    gmv: int
    sell_through: float | None
    sold_out_at_ms: int | None
    featured_seconds: float
    not_featured_seconds: float
    units_while_featured: int
    units_not_featured: int
    rate_featured: float | None
    rate_not_featured: float | None
    feature_lift: float | None


@dataclass(frozen=True)
class DropEntries:
    """A queue or draw drop's entrants: how many joined, and how many the queue admitted or the
    draw chose (None where the drop has no such step, or not yet)."""
    mode: str
    entries: int
    admitted: int | None = None
    winners: int | None = None


@dataclass(frozen=True)
class Report:
    status: str
    currency: str | None
    attribution: Attribution
    totals: list[CurrencyTotals]
    timeline: list[MinuteRow]
    windows: list[Window]
    products: list[ProductFigures]
    finalized_at: str | None
    entries: Mapping[str, DropEntries] = field(default_factory=dict)  # by product id: queue and draw drops


def report_status(session_status: SessionStatus, finalized: bool) -> str:
    """live: the show has not ended (figures provisional); settling: it ended, and orders may
    still change (open holds, or figures not yet checked against the orders); final: checked."""
    if session_status is not SessionStatus.ENDED:
        return "live"
    return "final" if finalized else "settling"


def likes_per_minute(likes: Mapping[int, Mapping[int, int]]) -> dict[int, int]:
    """Each like shard's count as of each minute is the highest count seen by then (its writes
    carry their time); a minute's likes are the rise over the minutes before."""
    result, running = {}, Counter[int]()
    for minute in sorted(likes):
        before = sum(running.values())
        for shard, count in likes[minute].items():
            running[shard] = max(running[shard], count)
        result[minute] = sum(running.values()) - before
    return result


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _overlap_ms(windows: Sequence[Window], start: int, end: int) -> int:
    """Length of the union of the windows inside [start, end)."""
    covered, cursor = 0, start
    for w in sorted(windows, key=lambda w: w.start_ms):
        lo, hi = max(w.start_ms, cursor), min(end if w.end_ms is None else w.end_ms, end)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return covered


def featured_in_minute(windows: Sequence[Window], minute: int, until_ms: int) -> str | None:
    """The product on screen for most of the minute (from each pin's send time to the next's;
    ties go to the later pin); None when no pin was on screen in it."""
    lo, hi = minute * MINUTE_MS, min((minute + 1) * MINUTE_MS, max(until_ms, minute * MINUTE_MS))
    best: tuple[int, int] | None = None
    product = None
    for index, w in enumerate(windows):
        begins = w.pin.shown_at_ms
        ends = windows[index + 1].pin.shown_at_ms if index + 1 < len(windows) else until_ms
        length = min(ends, hi) - max(begins, lo)
        if length > 0 and (best is None or (length, index) >= best):
            best, product = (length, index), w.pin.product_id
    return product


def build_report(session_status: SessionStatus, started_ms: int | None, ended_ms: int | None, now_ms: int,
                 lineup: Sequence[LineupFacts], aggregates: Aggregates, pins: Sequence[Pin],
                 attribution: Attribution, currency: str | None = None) -> Report:
    """The report, from the stored figures, the pins and the lineup: no order is read."""
    cells = aggregates.cells
    until = ended_ms if ended_ms is not None else now_ms
    windows = feature_windows(pins, attribution)

    currencies = sorted({row[1] for (row, _name) in cells if row[0] == "currency"} | {d.currency for d in lineup})
    chosen = currency or (lineup[0].currency if len({d.currency for d in lineup}) == 1 else
                          (currencies[0] if currencies else None))

    samples = list(aggregates.viewers.values())
    peak = max(samples) if samples else None
    average = sum(samples) / len(samples) if samples else None
    per_minute_likes = likes_per_minute(aggregates.likes)
    likes = sum(per_minute_likes.values())

    totals = []
    for cur in currencies:
        row = ("currency", cur)
        paid, gmv = cells[(row, "paid")], cells[(row, "gmv")]
        buyers = aggregates.buyers[cur]
        totals.append(CurrencyTotals(
            currency=cur, gmv=gmv, reserved_value=cells[(row, "reservedValue")],
            reservations=cells[(row, "reservations")],
            orders={name: cells[(row, name)] for name in ("reserved", "paid", "cancelled", "expired")},
            units_sold=cells[(row, "unitsSold")], buyers=buyers,
            average_order_value=(2 * gmv + paid) // (2 * paid) if paid else None,  # halves round up
            checkout_completion=_ratio(paid, cells[(row, "reservations")]),
            likes=likes, peak_viewers=peak, average_viewers=average,
            conversion=_ratio(buyers, peak or 0)))

    minutes = {int(row[1]) for (row, _name) in cells if row[0] == "minute" and row[2] == chosen}
    minutes |= set(aggregates.viewers) | set(per_minute_likes)
    if started_ms is not None:  # the minutes the show ran: an end at 10:03:00.000 makes 10:02 the last
        minutes |= set(range(started_ms // MINUTE_MS, max(started_ms, until - 1) // MINUTE_MS + 1))
    timeline = []
    if minutes:  # the latest MAX_TIMELINE_MINUTES at most: a drop opened days before its show
        last = max(minutes)
        for minute in range(max(min(minutes), last - MAX_TIMELINE_MINUTES + 1), last + 1):
            at = ("minute", str(minute), chosen or "")
            timeline.append(MinuteRow(
                minute_ms=minute * MINUTE_MS, reservations=cells[(at, "reservations")],
                paid_orders=cells[(at, "paidOrders")], units_sold=cells[(at, "unitsSold")],
                gmv=cells[(at, "gmv")], likes=per_minute_likes.get(minute, 0),
                viewers=aggregates.viewers.get(minute), featured_product_id=featured_in_minute(windows, minute, until)))

    products = [_product_figures(drop, cells, windows, started_ms, until) for drop in lineup]
    return Report(status=report_status(session_status, aggregates.finalized_at is not None), currency=chosen,
                  attribution=attribution, totals=totals, timeline=timeline, windows=windows, products=products,
                  finalized_at=aggregates.finalized_at)


def selling_period(drop: LineupFacts, started_ms: int | None, until_ms: int) -> tuple[int, int]:
    """When the drop could sell: from its opening (its own time, else the show's start) to the
    earliest of its closing, its selling out, and the end of the show (or now)."""
    opens = drop.opens_at_ms if drop.opens_at_ms is not None else started_ms
    if opens is None:
        return 0, 0
    ends = min(t for t in (drop.closes_at_ms, drop.sold_out_at_ms, until_ms) if t is not None)
    return opens, max(opens, ends)


def _product_figures(drop: LineupFacts, cells: Mapping[Cell, int], windows: Sequence[Window],
                     started_ms: int | None, until_ms: int) -> ProductFigures:
    row = ("product", drop.product_id)
    sold, featured_units = cells.get((row, "unitsSold"), 0), cells.get((row, "unitsWhileFeatured"), 0)
    opens, ends = selling_period(drop, started_ms, until_ms)
    featured_ms = _overlap_ms([w for w in windows if w.pin.product_id == drop.product_id], opens, ends)
    rest_ms = (ends - opens) - featured_ms
    rate_featured = featured_units / (featured_ms / MINUTE_MS) if featured_ms else None
    rate_rest = (sold - featured_units) / (rest_ms / MINUTE_MS) if rest_ms else None
    lift = rate_featured / rate_rest if rate_featured is not None and rate_rest else None
    return ProductFigures(
        product_id=drop.product_id, title=drop.title, currency=drop.currency, allocated=drop.allocated,
        units_sold=sold, gmv=cells.get((row, "gmv"), 0), sell_through=_ratio(sold, drop.allocated),
        sold_out_at_ms=drop.sold_out_at_ms, featured_seconds=featured_ms / 1000, not_featured_seconds=rest_ms / 1000,
        units_while_featured=featured_units, units_not_featured=sold - featured_units,
        rate_featured=rate_featured, rate_not_featured=rate_rest, feature_lift=lift)


def settled(aggregated: Mapping[Cell, int], aggregated_buyers: Mapping[str, int], counted: Mapping[Cell, int]) -> bool:
    """Whether a show's figures may be called final: no hold is open, and the aggregates equal a
    recount of the orders (the stream handler has caught up with every order)."""
    def summary(cells: Mapping[Cell, int]) -> dict[Cell, int]:
        return {cell: value for cell, value in cells.items() if value and cell[0][0] != "buyer"}

    no_open_hold = all(value == 0 for (row, name), value in counted.items() if name == "reserved")
    buyers_match = {k: v for k, v in aggregated_buyers.items() if v} == dict(buyers_of(counted))
    return no_open_hold and buyers_match and summary(aggregated) == summary(counted)
