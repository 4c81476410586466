"""A spike over real HTTP (`chalice local` on DynamoDB Local) with a webhook endpoint listening:
500 concurrent orders make exactly 500 `order.reserved` deliveries, one per order, each signed,
and the checkout's stock is conserved. The streams and the sweeper run in this process, as
`make run`'s webhook thread runs them."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import requests
from standardwebhooks import Webhook

from devstack.load import buyers, spike
from devstack.run import WebhookFeed
from tests.conftest import conservation
from tests.e2e.test_spike import brand_key, live_drop
from tests.webhook_receiver import start_receiver

ORDERS = 500


def test_five_hundred_concurrent_orders_make_five_hundred_deliveries(base_url, operator_key, aws_stack):
    from chalicelib.bootstrap import services

    auth = brand_key(base_url, operator_key)
    receiver = start_receiver()
    try:
        hook = requests.post(f"{base_url}/v1/webhooks", headers=auth,
                             json={"url": receiver.url, "events": ["order.reserved", "order.paid"]}).json()
        session_id, product_id = live_drop(base_url, auth, ORDERS, shards=4)
        feed = WebhookFeed()
        result = spike(base_url, buyers(aws_stack["LIVEDROP_SHOPPER_TOKEN_SECRET"], session_id, product_id, ORDERS))
        assert result.count(201) == ORDERS
        assert conservation(session_id, product_id, ORDERS) == (0, ORDERS)

        # Two workers at once, as overlapping scheduled sweeps would be: claims keep them apart.
        def sweep(_):
            while services().webhooks.deliver_due():
                pass

        queued = feed.drain()
        assert queued == ORDERS
        assert feed.drain() == 0
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(sweep, range(2)))
        received = receiver.wait_for(ORDERS)
        assert len(received) == ORDERS
        events = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in received]
        assert {e["type"] for e in events} == {"order.reserved"}
        assert len({r.id for r in received}) == ORDERS
        assert sorted(e["data"]["id"] for e in events) == sorted(a.body["id"] for a in result.attempts)
        log, cursor = [], None
        while True:
            page = requests.get(f"{base_url}/v1/webhooks/{hook['id']}/deliveries",
                                params={"limit": 100, **({"cursor": cursor} if cursor else {})}, headers=auth).json()
            log += page["items"]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert len(log) == ORDERS and all(d["status"] == "succeeded" and d["attempts"] == 1 for d in log)
        assert json.dumps(log).count(hook["secret"]) == 0
    finally:
        receiver.close()
