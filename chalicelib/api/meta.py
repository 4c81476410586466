"""The API's description of itself."""
from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, api_route

bp = Blueprint(__name__)


@api_route(bp, "/v1/openapi.json", "GET", summary="This OpenAPI 3.1 document", auth="public", tag="meta",
           max_age=300)
def openapi_json(req: ApiRequest) -> Response:
    """This document, generated from the same models that validate requests and shape answers."""
    from chalicelib.api.openapi import openapi_document  # built on first ask, not at cold start

    return Response(body=openapi_document(), headers={"Content-Type": "application/json"})
