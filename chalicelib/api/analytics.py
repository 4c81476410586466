"""Analytics routes: a show's report (JSON, or its timeline as CSV) and a brand's shows in a period."""
from chalice import Blueprint, Response

from chalicelib.api.analytics_schemas import (
    AnalyticsListQuery, AnalyticsPage, AnalyticsQuery, AnalyticsReport, AnalyticsSummary, CurrencyTotalsView,
    to_period,
)
from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.bootstrap import services
from chalicelib.domain.clock import to_iso

bp = Blueprint(__name__)
CSV = "text/csv; charset=utf-8"


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """`?format=` decides; else CSV when Accept ranks text/csv above application/json."""
    if format_ is not None:
        return format_ == "csv"
    ranks = {}
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            ranks[media.lower()] = float(q)
        except ValueError:
            continue
    json_rank = max(ranks.get(media, 0) for media in ("application/json", "application/*", "*/*"))
    return ranks.get("text/csv", 0) > json_rank


@api_route(bp, "/v1/sessions/{session_id}/analytics", "GET", tag="analytics",
           summary="What the show sold, minute by minute, and what featuring each product did",
           auth="brand", query=AnalyticsQuery, response=AnalyticsReport,
           also_as=((CSV, {"type": "string", "description": "The timeline: a header of the JSON field names, "
                                                             "then a row per minute (empty cells for null)"}),),
           response_headers=(("Content-Disposition", "On the CSV only: attachment; filename=\"<sessionId>-analytics.csv\"",
                              {"type": "string", "pattern": "^attachment; filename="}, False),))
def session_analytics(req: ApiRequest):
    """The owner's report of a show, aggregated from the tables' streams by a handler off the
    checkout's path, usually within seconds of each order change. Reading it costs a bounded number
    of DynamoDB requests whatever the number of orders: the session, its lineup (and products), its
    stock shards, its figures and its timeline, each one request per 1 MB (or per 100 items for
    batch reads). `?format=csv` or `Accept: text/csv` answers the per-minute timeline as CSV.

    Attribution: a pin's window runs from its send time (else its pin time) plus
    `attribution.latencyAllowanceMs` (by the channel's latency mode: 3 s LOW, 10 s NORMAL unless the
    deployment sets LIVEDROP_FEATURE_LATENCY_LOW_MS / _NORMAL_MS) to the next pin's send time plus
    the allowance plus `attribution.graceMs` (30 s unless LIVEDROP_FEATURE_GRACE_MS). A paid unit
    counts as sold while featured when its order was reserved inside a window of its product; a
    product pinned twice has two windows. The values a show is counted by are fixed at its first
    order and reported with it."""
    query: AnalyticsQuery = req.query
    session, report = services().analytics.report(req.brand.id, req.path["session_id"], query.currency)
    view = AnalyticsReport.of(session, report, to_iso(services().analytics.clock.now()))
    if wants_csv(query.format, req.raw.headers.get("accept")):
        return Response(body=view.csv(), status_code=200, headers={
            "Content-Type": CSV, "Vary": "Accept",
            "Content-Disposition": f'attachment; filename="{session.id}-analytics.csv"'})
    return Response(body=view.model_dump(mode="json", by_alias=True), status_code=200,
                    headers={"Content-Type": "application/json", "Vary": "Accept"})


@api_route(bp, "/v1/analytics/sessions", "GET", tag="analytics", auth="brand",
           summary="The brand's shows scheduled in a period, each with its totals",
           query=AnalyticsListQuery, response=AnalyticsPage)
def analytics_sessions(req: ApiRequest) -> AnalyticsPage:
    """The calling brand's shows scheduled in [`from`, `to`), latest first, each with its status
    and its totals per currency (as in the show's report; currencies with no order are left out).
    A page costs one query of the sessions and one per show."""
    query: AnalyticsListQuery = req.query
    items, cursor = services().analytics.reports(req.brand.id, to_period(query.scheduled_from),
                                                 to_period(query.scheduled_to), query.limit, query.cursor)
    return AnalyticsPage(items=[AnalyticsSummary(
        session_id=owned.session.id, title=owned.session.title, session_status=owned.session.status.value,
        status=report.status, scheduled_at=owned.session.scheduled_at, started_at=owned.session.started_at,
        ended_at=owned.session.ended_at, totals=[CurrencyTotalsView.of(t) for t in report.totals])
        for owned, report in items], next_cursor=cursor)
