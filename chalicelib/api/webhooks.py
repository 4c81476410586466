"""Webhook routes: a brand's endpoints, their secrets, test pings and the delivery log."""
from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.api.schemas import PageQuery
from chalicelib.api.webhook_schemas import (
    DeliveryListQuery, DeliveryPage, DeliveryView, WebhookCreate, WebhookCreated, WebhookPage, WebhookPatch,
    WebhookView,
)
from chalicelib.bootstrap import services

bp = Blueprint(__name__)


@api_route(bp, "/v1/webhooks", "POST", summary="Register a webhook endpoint", auth="brand", status=201,
           request=WebhookCreate, response=WebhookCreated, errors=(409,), tag="webhooks", secret=True)
def create_webhook(req: ApiRequest) -> WebhookCreated:
    """Events of the chosen types are POSTed to `url`, signed per Standard Webhooks with the
    `secret` answered here, once (the `webhooks` section of this document describes each event).
    At most 20 endpoints per brand."""
    body: WebhookCreate = req.body
    endpoint, secret = services().webhooks.create(req.brand.id, body.url, body.events, body.description)
    return WebhookCreated.with_secret(endpoint, secret)


@api_route(bp, "/v1/webhooks", "GET", summary="List the brand's webhook endpoints", auth="brand",
           query=PageQuery, response=WebhookPage, tag="webhooks")
def list_webhooks(req: ApiRequest) -> WebhookPage:
    """Oldest first, a page at a time: pass `nextCursor` back as `cursor` until it is null. Secrets
    are never shown again."""
    items, cursor = services().webhooks.endpoints(req.brand.id, req.query.limit, req.query.cursor)
    return WebhookPage(items=[WebhookView.of(e) for e in items], next_cursor=cursor)


@api_route(bp, "/v1/webhooks/{webhook_id}", "GET", summary="A webhook endpoint", auth="brand",
           response=WebhookView, tag="webhooks")
def get_webhook(req: ApiRequest) -> WebhookView:
    """One of the brand's endpoints: its status, and why it was disabled if it was."""
    return WebhookView.of(services().webhooks.get(req.brand.id, req.path["webhook_id"]))


@api_route(bp, "/v1/webhooks/{webhook_id}", "PATCH", summary="Change a webhook endpoint", auth="brand",
           request=WebhookPatch, response=WebhookView, tag="webhooks")
def patch_webhook(req: ApiRequest) -> WebhookView:
    """Change the URL, the event types, the description, or enable or disable the endpoint.
    Deliveries already made keep their log; a new URL is checked as at registration."""
    body: WebhookPatch = req.body
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return WebhookView.of(services().webhooks.update(req.brand.id, req.path["webhook_id"], changes))


@api_route(bp, "/v1/webhooks/{webhook_id}", "DELETE", summary="Delete a webhook endpoint", auth="brand",
           status=204, tag="webhooks")
def delete_webhook(req: ApiRequest) -> None:
    """Nothing more is sent to it; deliveries still due are dropped (marked failed)."""
    services().webhooks.delete(req.brand.id, req.path["webhook_id"])


@api_route(bp, "/v1/webhooks/{webhook_id}/rotate-secret", "POST", summary="Rotate the signing secret",
           auth="brand", response=WebhookCreated, tag="webhooks", secret=True)
def rotate_webhook_secret(req: ApiRequest) -> WebhookCreated:
    """A new signing secret, shown this once. For 24 hours the previous one signs beside it
    (`webhook-signature` carries both), so receivers move over without losing a message."""
    endpoint, secret = services().webhooks.rotate(req.brand.id, req.path["webhook_id"])
    return WebhookCreated.with_secret(endpoint, secret)


@api_route(bp, "/v1/webhooks/{webhook_id}/test", "POST", summary="Send a ping event", auth="brand",
           status=202, response=DeliveryView, tag="webhooks")
def test_webhook(req: ApiRequest) -> DeliveryView:
    """Queue a `ping` event to this endpoint alone (also when it is disabled); follow it in the
    delivery log."""
    return DeliveryView.of(services().webhooks.ping(req.brand.id, req.path["webhook_id"]))


@api_route(bp, "/v1/webhooks/{webhook_id}/deliveries", "GET", summary="The endpoint's delivery log",
           auth="brand", query=DeliveryListQuery, response=DeliveryPage, tag="webhooks")
def list_deliveries(req: ApiRequest) -> DeliveryPage:
    """Every event sent or to be sent to the endpoint, newest first (kept 30 days), with its
    attempts, last answer and next attempt."""
    query: DeliveryListQuery = req.query
    items, cursor = services().webhooks.deliveries(req.brand.id, req.path["webhook_id"], query.limit,
                                                   query.cursor, query.status)
    return DeliveryPage(items=[DeliveryView.of(d) for d in items], next_cursor=cursor)


@api_route(bp, "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", "POST",
           summary="Attempt a delivery again now", auth="brand", status=202, response=DeliveryView,
           errors=(409,), tag="webhooks")
def retry_delivery(req: ApiRequest) -> DeliveryView:
    """One more attempt, soon, with the same webhook-id (receivers that saw it already drop it).
    Not while the endpoint is disabled, nor while an attempt is under way (409)."""
    return DeliveryView.of(services().webhooks.retry(req.brand.id, req.path["webhook_id"],
                                                     req.path["delivery_id"]))
