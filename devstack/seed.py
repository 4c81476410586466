"""Demo data for `make run`: a brand, a few products, and a scheduled session with a lineup.

Seeded through the service layer, so it obeys the same rules as data made through the API.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.bootstrap import services
from chalicelib.domain.clock import to_iso
from chalicelib.domain.money import Money

PRODUCTS = [
    ("Aurora hoodie", "Heavyweight organic cotton, limited colourway.", 6900, 300),
    ("Comet sneakers", "Hand-finished suede, numbered pairs.", 14900, 120),
    ("Nebula cap", "Six-panel, embroidered.", 2900, 500),
]


def seed_demo() -> dict[str, str]:
    app = services()
    brand, api_key = app.brands.create("Demo Brand")
    products = [
        # No images: the demo runs offline, and a page must not reach for a host it can not resolve.
        app.catalog.create(brand.id, title, description, Money(amount, "EUR"), stock, ())
        for title, description, amount, stock in PRODUCTS
    ]
    starts = to_iso(datetime.now(timezone.utc) + timedelta(hours=1))
    session = app.sessions.schedule(brand.id, "Friday night drop", starts)
    for product, quantity, drop_price in zip(products, (100, 50, 200), (5900, 12900, None), strict=True):
        app.sessions.add_to_lineup(brand.id, session.id, product.id,
                                Money(drop_price, "EUR") if drop_price else None, quantity, 2)
    return {"brand_id": brand.id, "api_key": api_key, "session_id": session.id}
