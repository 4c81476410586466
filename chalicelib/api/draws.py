"""Draw drops: the draw as published (anyone), and the owner brand's draw at once."""
from chalice import Blueprint

from chalicelib.api.draw_schemas import DrawQuery, DrawView
from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.bootstrap import services

bp = Blueprint(__name__)


@api_route(bp, "/v1/sessions/{session_id}/drops/{product_id}/draw", "GET",
           summary="A draw drop's draw: the seed's hash before it; the seed, entrants and winners after (public)",
           auth="public", query=DrawQuery, response=DrawView, tag="drops")
def get_draw(req: ApiRequest) -> DrawView:
    """A draw drop's draw. While entries are taken (`open`): `seedHash`, the SHA-256 of a seed
    drawn when the drop was added. Once drawn: the seed itself, every entrant's shopper id in
    string order (`page` by page) and the winners in rank order, so anyone can check that the seed
    is the one committed to and recompute the winners (README "Draw drops", scripts/verify_draw.py).
    A read never makes the draw: the scheduled run (every minute) or the owner's POST does, so it
    says `open` after opensAt until then. A product that is not a
    draw drop of the session answers 404 naming `productId`; a page past the last has no entrants."""
    return DrawView.of(services().draws.view(req.path["session_id"], req.path["product_id"], req.query.page))


@api_route(bp, "/v1/sessions/{session_id}/drops/{product_id}/draw", "POST",
           summary="Make a draw drop's draw now that opensAt has passed (owner brand)", auth="brand",
           response=DrawView, errors=(409,), tag="drops")
def run_draw(req: ApiRequest) -> DrawView:
    """Make the draw now (once opensAt has passed, else 409 `draw_not_due`) instead of waiting for
    the scheduled run, and reserve one unit for each winner; answers the draw (its first page of
    entrants). Made already: answers it, and finishes reserving if a run was cut short. Repeating
    it is harmless: a draw is made once."""
    return DrawView.of(services().draws.run_now(req.brand.id, req.path["session_id"], req.path["product_id"]))
