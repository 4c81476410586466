"""The shapes of the analytics routes; every figure's definition is its field's description, so
the OpenAPI document states them."""
from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.api.schemas import DEFERRED, Currency, Moment, PageQuery, ResponseModel, Timestamp, _known_currency
from chalicelib.domain.analytics import CurrencyTotals, DropEntries, MinuteRow, ProductFigures, Report, Window
from chalicelib.domain.clock import iso_of_ms, to_iso
from chalicelib.domain.records import Session

ReportStatus = Literal["live", "settling", "final"]
STATUS_TEXT = ("`live`: the show has not ended, the figures are provisional; `settling`: it ended, and "
               "reservations are still open or the figures are not yet checked against the orders; "
               "`final`: every order is resolved and the figures equal a recount of the orders: the "
               "report no longer changes")
MINOR = "in minor units of the currency"


class AnalyticsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=DEFERRED)
    format: Literal["json", "csv"] = Field(
        None, description="`csv`: the per-minute timeline as text/csv (as `Accept: text/csv` asks); JSON otherwise")
    currency: Annotated[Currency, AfterValidator(_known_currency)] = Field(
        None, description="The currency of the timeline's order figures; default: the lineup's, when it has one")


class AnalyticsListQuery(PageQuery):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    scheduled_from: Moment = Field(None, alias="from",
                                   description="Shows scheduled at or after this moment; no bound if absent")
    scheduled_to: Moment = Field(None, alias="to", description="Shows scheduled before this moment; no bound if "
                                 "absent (a `to` not after `from` is an empty period)")


class AttributionView(ResponseModel):
    latency_allowance_ms: int = Field(
        description="Added to a pin's send time before viewers are taken to see it (by the channel's latency mode)")
    grace_ms: int = Field(description="How long after the next pin (plus the allowance) a sale still counts for a product")


class OrderOutcomes(ResponseModel):
    reserved: int = Field(description="Orders still holding units (reserved, or being paid)")
    paid: int
    cancelled: int
    expired: int


class CurrencyTotalsView(ResponseModel):
    currency: str
    gmv: int = Field(description=f"Value of the paid orders, {MINOR}")
    reserved_value: int = Field(description=f"Value of the open holds (reserved or being paid), {MINOR}")
    reservations: int = Field(description="Orders made (every order starts as a reservation)")
    orders: OrderOutcomes = Field(description="Orders by outcome now")
    units_sold: int = Field(description="Units in paid orders")
    buyers: int = Field(description="Distinct shoppers with at least one paid order")
    average_order_value: int | None = Field(
        description="gmv / paid orders, rounded to the nearest minor unit; null without a paid order")
    checkout_completion: float | None = Field(description="paid orders / reservations; null without a reservation")
    likes: int = Field(description="Likes during the show (every currency's totals carry the show's)")
    peak_viewers: int | None = Field(description="Highest of the once-a-minute viewer samples; null without a sample")
    average_viewers: float | None = Field(description="Mean of the once-a-minute viewer samples; null without a sample")
    conversion: float | None = Field(description="buyers / peakViewers; null when there is no peak (or it is 0)")

    @classmethod
    def of(cls, totals: CurrencyTotals) -> "CurrencyTotalsView":
        return cls(currency=totals.currency, gmv=totals.gmv, reserved_value=totals.reserved_value,
                   reservations=totals.reservations, orders=OrderOutcomes(**totals.orders),
                   units_sold=totals.units_sold, buyers=totals.buyers,
                   average_order_value=totals.average_order_value, checkout_completion=totals.checkout_completion,
                   likes=totals.likes, peak_viewers=totals.peak_viewers, average_viewers=totals.average_viewers,
                   conversion=totals.conversion)


class MinuteView(ResponseModel):
    minute: Timestamp = Field(description="The minute's start (UTC)")
    reservations: int = Field(description="Orders reserved in this minute (in the report's currency)")
    paid_orders: int = Field(description="Of those, the orders paid (a payment counts in its reservation's minute)")
    units_sold: int = Field(description="Units of those paid orders")
    gmv: int = Field(description=f"Value of those paid orders, {MINOR}")
    likes: int = Field(description="Likes in this minute")
    viewers: int | None = Field(description="The viewer count sampled in this minute; null if none was")
    featured_product_id: str | None = Field(
        description="The product pinned for the longest part of the minute (from each pin's send time to the "
                    "next's; ties go to the later pin); null if none")

    @classmethod
    def of(cls, row: MinuteRow) -> "MinuteView":
        return cls(minute=iso_of_ms(row.minute_ms), reservations=row.reservations, paid_orders=row.paid_orders,
                   units_sold=row.units_sold, gmv=row.gmv, likes=row.likes, viewers=row.viewers,
                   featured_product_id=row.featured_product_id)


class PinWindowView(ResponseModel):
    product_id: str
    pinned_at: Timestamp = Field(description="When the host pinned it")
    sent_at: Timestamp | None = Field(description="When the stream carried it (timed metadata); null if it did not")
    window_start: Timestamp = Field(description="(sentAt, else pinnedAt) + latencyAllowanceMs")
    window_end: Timestamp | None = Field(
        description="The next pin's (sentAt, else pinnedAt) + latencyAllowanceMs + graceMs; null while it is the last")

    @classmethod
    def of(cls, window: Window) -> "PinWindowView":
        pin = window.pin
        return cls(product_id=pin.product_id, pinned_at=iso_of_ms(pin.pinned_at_ms),
                   sent_at=None if pin.sent_at_ms is None else iso_of_ms(pin.sent_at_ms),
                   window_start=iso_of_ms(window.start_ms),
                   window_end=None if window.end_ms is None else iso_of_ms(window.end_ms))


class DropEntriesView(ResponseModel):
    """A queue or draw drop's entrants."""
    mode: Literal["queue", "draw"]
    entries: int = Field(description="Positions handed out (a queue; a draw until it is drawn), or the draw's "
                                     "entrants once drawn")
    admitted: int | None = Field(description="A queue: positions admitted so far; else null")
    winners: int | None = Field(description="A draw: its winners once drawn; else null")


class ProductAnalyticsView(ResponseModel):
    product_id: str
    title: str | None
    currency: str
    allocated: int = Field(description="Units the lineup gave the drop")
    units_sold: int = Field(description="Units in paid orders")
    gmv: int = Field(description=f"Value of those units, {MINOR}")
    sell_through: float | None = Field(description="unitsSold / allocated")
    sold_out_at: Timestamp | None = Field(description="When its last unit went, if none is left now")
    featured_seconds: float = Field(
        description="Time inside its pin windows during its selling period: from its opening (its opensAt, else the "
                    "show's start) to the earliest of its closing, its selling out and the show's end (or now)")
    not_featured_seconds: float = Field(description="The rest of its selling period")
    units_while_featured: int = Field(description="Paid units whose order was reserved inside one of its pin windows")
    units_not_featured: int = Field(description="Paid units reserved outside its pin windows")
    sales_per_minute_while_featured: float | None = Field(
        description="unitsWhileFeatured per minute of featuredSeconds; null when it was never featured")
    sales_per_minute_not_featured: float | None = Field(
        description="unitsNotFeatured per minute of notFeaturedSeconds; null when it never sold unfeatured time")
    feature_lift: float | None = Field(
        description="salesPerMinuteWhileFeatured / salesPerMinuteNotFeatured; null where either is null or the "
                    "second is 0")
    entrants: DropEntriesView | None = Field(description="Queue and draw drops: who entered, and how many "
                                                         "were admitted or won; null for an open drop")

    @classmethod
    def of(cls, figures: ProductFigures, entries: DropEntries | None = None) -> "ProductAnalyticsView":
        entrants = None if entries is None else DropEntriesView(
            mode=entries.mode, entries=entries.entries, admitted=entries.admitted, winners=entries.winners)
        return cls(entrants=entrants, product_id=figures.product_id, title=figures.title, currency=figures.currency,
                   allocated=figures.allocated, units_sold=figures.units_sold, gmv=figures.gmv,
                   sell_through=figures.sell_through,
                   sold_out_at=None if figures.sold_out_at_ms is None else iso_of_ms(figures.sold_out_at_ms),
                   featured_seconds=figures.featured_seconds, not_featured_seconds=figures.not_featured_seconds,
                   units_while_featured=figures.units_while_featured, units_not_featured=figures.units_not_featured,
                   sales_per_minute_while_featured=figures.rate_featured,
                   sales_per_minute_not_featured=figures.rate_not_featured, feature_lift=figures.feature_lift)


class AnalyticsReport(ResponseModel):
    session_id: str
    title: str
    session_status: Literal["scheduled", "live", "ended"]
    status: ReportStatus = Field(description=STATUS_TEXT)
    started_at: Timestamp | None
    ended_at: Timestamp | None
    generated_at: Timestamp
    finalized_at: Timestamp | None = Field(description="When the figures were checked final")
    currency: str | None = Field(description="The currency of the timeline's order figures")
    attribution: AttributionView
    totals: list[CurrencyTotalsView] = Field(description="One entry per currency of the lineup or of an order")
    timeline: list[MinuteView] = Field(
        description="One row per minute, from the show's start (or its first activity) to its end (or now); the "
                    "latest 1,440 minutes at most")
    pins: list[PinWindowView] = Field(
        description="Each pin that reached viewers (a pin superseded before it was sent did not), with its "
                    "attribution window")
    products: list[ProductAnalyticsView]

    @classmethod
    def of(cls, session: Session, report: Report, generated_at: str) -> "AnalyticsReport":
        return cls(session_id=session.id, title=session.title, session_status=session.status.value,
                   status=report.status, started_at=session.started_at, ended_at=session.ended_at,
                   generated_at=generated_at, finalized_at=report.finalized_at, currency=report.currency,
                   attribution=AttributionView(latency_allowance_ms=report.attribution.latency_allowance_ms,
                                               grace_ms=report.attribution.grace_ms),
                   totals=[CurrencyTotalsView.of(t) for t in report.totals],
                   timeline=[MinuteView.of(row) for row in report.timeline],
                   pins=[PinWindowView.of(w) for w in report.windows],
                   products=[ProductAnalyticsView.of(p, report.entries.get(p.product_id)) for p in report.products])

    def csv(self) -> str:
        """The timeline, a row per minute, with the JSON's field names as the header."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        names = list(MinuteView.model_fields)
        writer.writerow([MinuteView.model_fields[name].alias for name in names])
        for row in self.timeline:
            writer.writerow(["" if getattr(row, name) is None else getattr(row, name) for name in names])
        return out.getvalue()


class AnalyticsSummary(ResponseModel):
    session_id: str
    title: str
    session_status: Literal["scheduled", "live", "ended"]
    status: ReportStatus = Field(description=STATUS_TEXT)
    scheduled_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None
    totals: list[CurrencyTotalsView] = Field(description="One entry per currency the show has orders in")


class AnalyticsPage(ResponseModel):
    items: list[AnalyticsSummary]
    next_cursor: str | None


def to_period(moment) -> str | None:
    return None if moment is None else to_iso(moment)
