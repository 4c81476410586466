"""Livedrop: the Chalice app. Routes live in chalicelib/api; this file only assembles them."""
import os

from chalice import Chalice, Rate

from chalicelib.api import analytics, brands, draws, drops, meta, orders, payments, products, sessions, webhooks
from chalicelib.api.problems import chalice_errors_as_problems
from chalicelib.api.routing import build_crowd_models, install_edge
from chalicelib.bootstrap import prepare
from chalicelib.observability import observe_event, observe_http

app = Chalice(app_name="livedrop")
# Lambda's init phase: what every container needs, made before its first request, not in it.
prepare()  # the services, their adapters and the DynamoDB client
build_crowd_models()  # the validators and serialisers of the viewers' and shoppers' routes
app.register_middleware(observe_http, "http")
install_edge(app)  # CORS preflights and the CORS and caching headers of every answer
app.register_middleware(chalice_errors_as_problems, "http")
for module in (brands, products, sessions, drops, draws, orders, payments, analytics, webhooks, meta):
    app.register_blueprint(module.bp)


@app.on_cw_event({"source": ["aws.ivs"], "detail-type": ["IVS Stream State Change", "IVS Recording State Change"]})
@observe_event
def ivs_events(event):
    """IVS tells when a stream starts and ends (the session follows) and when a recording ends
    (the session gets its replay). Events may come late or twice: each handler is idempotent."""
    from chalicelib.bootstrap import services

    detail, live = event.detail, services().live
    if event.detail_type == "IVS Stream State Change":
        return {"status": live.on_stream_state(detail.get("channel_name", ""), detail.get("event_name", ""))}
    if detail.get("recording_status") == "Recording End":
        return {"replayUrl": live.on_recording_end(detail.get("channel_name", ""),
                                                   detail.get("recording_s3_bucket_name", ""),
                                                   detail.get("recording_s3_key_prefix", ""))}
    return {}


# The stock ticker reads the stock table's stream; its ARN is an output of infra/template.json,
# exported before `chalice deploy` (without it, the handler is not deployed).
if os.environ.get("LIVEDROP_STOCK_STREAM_ARN"):
    @app.on_dynamodb_record(stream_arn=os.environ["LIVEDROP_STOCK_STREAM_ARN"], batch_size=100,
                            maximum_batching_window_in_seconds=1)
    @observe_event
    def stock_ticker(event):
        """Drop opened, sold out, and a units-left tick per item per second, as timed metadata."""
        from chalicelib.bootstrap import services

        records = [(record.old_image, record.new_image) for record in event]
        return {"records": len(records), "sent": services().live.on_stock_records(records)}


# Show analytics, aggregated off the checkout's path from three streams (each ARN an output of
# infra/template.json, exported before `chalice deploy`). A failed batch is retried whole: every
# record's effect is applied once (services/analytics.py); a first deploy reads from the oldest
# record the stream keeps, so a show already running is counted from its start.
def _records(event):
    return [(record.sequence_number, record.old_image, record.new_image) for record in event]


if os.environ.get("LIVEDROP_ORDERS_STREAM_ARN"):
    @app.on_dynamodb_record(stream_arn=os.environ["LIVEDROP_ORDERS_STREAM_ARN"], starting_position="TRIM_HORIZON",
                            batch_size=500,
                            maximum_batching_window_in_seconds=1)
    @observe_event
    def analytics_orders(event):
        """Each order transition into its show's figures (minutes, products, totals)."""
        from chalicelib.bootstrap import services

        return {"applied": services().analytics.on_order_records(_records(event))}

if os.environ.get("LIVEDROP_COUNTERS_STREAM_ARN"):
    @app.on_dynamodb_record(stream_arn=os.environ["LIVEDROP_COUNTERS_STREAM_ARN"], starting_position="TRIM_HORIZON",
                            batch_size=500,
                            maximum_batching_window_in_seconds=1)
    @observe_event
    def analytics_likes(event):
        """Likes per minute, from the like shards' counts."""
        from chalicelib.bootstrap import services

        return {"likes": services().analytics.on_like_records(_records(event))}

if os.environ.get("LIVEDROP_SESSIONS_STREAM_ARN"):
    @app.on_dynamodb_record(stream_arn=os.environ["LIVEDROP_SESSIONS_STREAM_ARN"], starting_position="TRIM_HORIZON",
                            batch_size=100,
                            maximum_batching_window_in_seconds=1)
    @observe_event
    def analytics_sessions(event):
        """A show that ended is to be settled."""
        from chalicelib.bootstrap import services

        return {"ended": services().analytics.on_session_records(_records(event))}


# Webhooks: the same orders and sessions streams, and the timeline's (pins, drops opened and sold
# out), fanned out into the deliveries outbox; a failed batch comes again and adds nothing twice.
WEBHOOK_STREAMS = {"orders": "LIVEDROP_ORDERS_STREAM_ARN", "sessions": "LIVEDROP_SESSIONS_STREAM_ARN",
                   "timeline": "LIVEDROP_TIMELINE_STREAM_ARN"}


def _fan_out(kind):
    def handler(event):
        from chalicelib.api.webhook_schemas import EventViews
        from chalicelib.bootstrap import services

        webhooks = services().webhooks
        publish = {"orders": webhooks.on_order_records, "sessions": webhooks.on_session_records,
                   "timeline": webhooks.on_timeline_records}[kind]
        return {"deliveries": publish(_records(event), EventViews())}

    handler.__name__ = f"webhooks_{kind}"
    handler.__doc__ = f"The {kind} stream's events, to each subscribed webhook endpoint."
    return handler


for _kind, _variable in WEBHOOK_STREAMS.items():
    if os.environ.get(_variable):
        app.on_dynamodb_record(stream_arn=os.environ[_variable], starting_position="TRIM_HORIZON", batch_size=500,
                               maximum_batching_window_in_seconds=1, name=f"webhooks_{_kind}")(
            observe_event(_fan_out(_kind)))


# The sweeper keeps sweeping for most of each minute (its Lambda timeout, in .chalice/config.json,
# is longer), so a delivery due in 5 s goes within a second or so of its time.
WEBHOOK_SWEEP_SECONDS = 50


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def deliver_webhooks(event):
    """Due webhook deliveries: claimed, signed, POSTed, and their outcome logged."""
    from chalicelib.bootstrap import services

    return {"attempts": services().webhooks.sweep(budget_seconds=WEBHOOK_SWEEP_SECONDS)}


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def sample_viewers(event):
    """Each live show's viewer count (IVS GetStream), once a minute, for its analytics."""
    from chalicelib.bootstrap import services

    return {"sampled": services().analytics.sample_viewers()}


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def settle_analytics(event):
    """Ended shows whose orders are all resolved: their figures, checked against a recount, are final."""
    from chalicelib.bootstrap import services

    return {"finalized": services().analytics.settle(budget_seconds=30)}


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def announce_timed_drops(event):
    """Tell the players of live shows about drops whose own opening time has come."""
    from chalicelib.bootstrap import services

    return {"announced": services().live.announce_timed_openings()}


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def release_expired_reservations(event):
    """Give the units of reservations past their time back to their drops."""
    from chalicelib.bootstrap import services

    return {"released": services().checkout.release_expired(limit=500)}


# A draw reads its entrants and reserves for its winners one by one: the run stops reserving after
# this many seconds (its Lambda timeout, in .chalice/config.json, is longer) and the next goes on.
DRAW_SECONDS = 45


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def run_draws(event):
    """Draw drops whose opensAt has passed: the draw made (once) and a unit reserved for each winner."""
    from chalicelib.bootstrap import services

    return {"finished": services().draws.run_due(limit=50, budget_seconds=DRAW_SECONDS)}


# Each order may take a few calls to the provider: the run stops taking orders after this many
# seconds (its Lambda timeout, in .chalice/config.json, is longer) and the next run goes on.
RECONCILE_SECONDS = 45


@app.schedule(Rate(1, unit=Rate.MINUTES))
@observe_event
def reconcile_payments(event):
    """Payments past their paying window, and paid orders whose capture or refund did not go
    through: the provider is asked how each stands, and the order settled."""
    from chalicelib.bootstrap import services

    return {"settled": services().payments.reconcile(limit=500, budget_seconds=RECONCILE_SECONDS)}
