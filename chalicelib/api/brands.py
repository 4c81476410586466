"""Operator routes: onboarding brands."""
from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.api.schemas import BrandCreate, BrandCreated
from chalicelib.bootstrap import services

bp = Blueprint(__name__)


@api_route(bp, "/v1/brands", "POST", summary="Create a brand and its API key (operator)", auth="operator",
           status=201, request=BrandCreate, response=BrandCreated, tag="brands", secret=True)
def create_brand(req: ApiRequest) -> BrandCreated:
    """Onboard a brand. The answer holds the brand's API key, shown this once: Livedrop keeps only a
    hash of it (so the answer is never stored by a cache)."""
    brand, api_key = services().brands.create(req.body.name)
    return BrandCreated(id=brand.id, name=brand.name, api_key=api_key, created_at=brand.created_at)
