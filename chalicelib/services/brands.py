"""Use cases of brands: onboarding by the operator, and authenticating a brand's API key."""
from __future__ import annotations

from typing import Callable

from chalicelib.domain import api_keys
from chalicelib.domain.clock import to_iso
from chalicelib.domain.ids import is_id, new_id
from chalicelib.domain.ports import BrandRepository, Clock
from chalicelib.domain.records import Brand
from chalicelib.domain.errors import Unauthorized


class Brands:
    def __init__(self, brands: BrandRepository, operator_key: Callable[[], str | None], clock: Clock) -> None:
        self.brands = brands
        self._operator_key = operator_key  # a callable: the key may live in SSM
        self.clock = clock

    def authorize_operator(self, presented: str | None) -> None:
        expected = self._operator_key()
        if not presented or not expected or not api_keys.same_secret(presented, expected):
            raise Unauthorized("an operator key is required")

    def create(self, name: str) -> tuple[Brand, str]:
        brand_id = new_id("brd")
        key = api_keys.issue_key(brand_id)
        brand = Brand(id=brand_id, name=name, api_key_hash=key.hash, created_at=to_iso(self.clock.now()))
        self.brands.add(brand)
        return brand, key.plaintext

    def authenticate(self, presented: str | None) -> Brand:
        parsed = api_keys.parse_key(presented or "")
        if parsed is None or not is_id(parsed[0], "brd"):
            raise Unauthorized("a valid brand API key is required")
        brand = self.brands.get(parsed[0])
        if brand is None or not api_keys.secret_matches(parsed[1], brand.api_key_hash):
            raise Unauthorized("a valid brand API key is required")
        return brand
