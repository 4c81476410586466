"""Use cases of products: a brand's catalogue and its stock."""
from __future__ import annotations

from typing import Any

from chalicelib.domain.clock import to_iso
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import Money
from chalicelib.domain.ports import Clock, ProductRepository
from chalicelib.domain.records import Product
from chalicelib.domain.ownership import found, owned, require_well_formed, well_formed


class Catalog:
    def __init__(self, products: ProductRepository, clock: Clock) -> None:
        self.products = products
        self.clock = clock

    def create(self, brand_id: str, title: str, description: str | None, price: Money, stock: int,
               images: tuple[str, ...]) -> Product:
        at = to_iso(self.clock.now())
        product = Product(id=new_id("prd"), brand_id=brand_id, title=title, description=description,
                          price=price, stock=stock, images=images, created_at=at, updated_at=at)
        self.products.add(product)
        return product

    def _load(self, product_id: str) -> Product | None:
        return self.products.get(product_id) if well_formed(product_id, "prd") else None

    def get_public(self, product_id: str) -> Product:
        return found(self._load(product_id), "product", product_id)

    def get_owned(self, brand_id: str, product_id: str) -> Product:
        return owned(self._load(product_id), brand_id, "product", product_id)

    def list(self, brand_id: str, limit: int, cursor: str | None) -> tuple[list[Product], str | None]:
        return self.products.list_for_brand(brand_id, limit, cursor)

    def update(self, brand_id: str, product_id: str, changes: dict[str, Any]) -> Product:
        self.get_owned(brand_id, product_id)
        return self.products.update(brand_id, product_id, changes, to_iso(self.clock.now()))

    def adjust_stock(self, brand_id: str, product_id: str, delta: int) -> Product:
        require_well_formed(product_id, "prd", "product")
        return self.products.adjust_stock(brand_id, product_id, delta, to_iso(self.clock.now()))

