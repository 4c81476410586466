"""The checkout's transaction is written in DynamoDB's JSON by hand (adapters/dynamodb/orders.py):
its order item must be exactly what OrderModel would store, or reads of the order would differ."""
from chalicelib.adapters.dynamodb.models import OrderModel
from chalicelib.adapters.dynamodb.orders import _order, order_item
from chalicelib.domain.drops import OrderStatus
from chalicelib.domain.money import Money
from chalicelib.domain.records import Order, OrderLine


def an_order(version):
    return Order(id="ord_1", shopper_id="shp_1", session_id="ses_1", brand_id="brd_1", status=OrderStatus.RESERVED,
                 lines=(OrderLine(product_id="prd_1", quantity=2, unit_price=Money(1250, "EUR"), shards={0: 1, 3: 1},
                                  counted=True),
                        OrderLine(product_id="prd_2", quantity=1, unit_price=Money(990, "EUR"), shards={1: 1},
                                  counted=False)),
                 total=Money(3490, "EUR"), request_hash="abc", created_at="2026-11-23T20:00:00.000Z",
                 expires_at=1795478400, version=version)


def test_the_order_item_is_what_the_model_stores():
    for version in (1, None):
        order = an_order(version)
        row = OrderModel(id=order.id, shopper_id=order.shopper_id, session_id=order.session_id,
                         brand_id=order.brand_id, status=order.status.value, currency="EUR", total_amount=3490,
                         lines=[{"productId": "prd_1", "quantity": 2, "unitAmount": 1250, "shards": {"0": 1, "3": 1},
                                 "counted": True},
                                {"productId": "prd_2", "quantity": 1, "unitAmount": 990, "shards": {"1": 1},
                                 "counted": False}],
                         request_hash="abc", created_at=order.created_at, expires_at=order.expires_at,
                         hold_shard=7, hold_until=order.expires_at, version=version)
        assert order_item(order, 7) == row.serialize()


def test_the_order_item_reads_back_as_the_order():
    order = an_order(1)
    assert _order(OrderModel.from_raw_data(order_item(order, 3))) == order
