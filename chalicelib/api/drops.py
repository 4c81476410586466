"""Queue and draw drops: a shopper joins one, then asks where the entry stands."""
from chalice import Blueprint, Response

from chalicelib.api.routing import ApiRequest, api_route
from chalicelib.api.schemas import EntryStatusView, EntryView
from chalicelib.bootstrap import services

bp = Blueprint(__name__)


@api_route(bp, "/v1/sessions/{session_id}/drops/{product_id}/entries", "POST",
           summary="Join a queue or draw drop (once per shopper)", auth="shopper", status=201, also_status=(200,),
           response=EntryView, errors=(403, 409), tag="drops")
def join_drop(req: ApiRequest) -> Response:
    """Join a queue drop (buy when admitted, in position order) or enter a draw. The first join
    answers 201 with the new entry; joining again answers 200 with that same entry. Positions are
    in join order (per position counter: a drop expecting over 1,000 joins a second has several).
    Refused: a product not in the lineup 404 naming `productId`; an open drop 409 `not_a_queue`;
    a verified-only drop with an anonymous shopper token 403 `verification_required`; a drop that
    has closed 409 `drop_closed`; a draw at or after its opensAt 409 `entries_closed`."""
    entry, created = services().queues.join(req.shopper_id, req.shopper_verified, req.path["session_id"],
                                            req.path["product_id"])
    return Response(body=EntryView.of(entry).model_dump(mode="json", by_alias=True),
                    status_code=201 if created else 200, headers={"Content-Type": "application/json"})


@api_route(bp, "/v1/sessions/{session_id}/drops/{product_id}/entries/me", "GET",
           summary="The shopper's entry and where it stands: waiting, admitted (with the admission token), ...",
           auth="shopper", response=EntryStatusView, errors=(409,), tag="drops", secret=True)
def my_entry(req: ApiRequest) -> EntryStatusView:
    """The shopper's entry: its position and state. A queue admits positions in order as units
    are left (a step at most once a second, taken by these polls); while `admitted`, `admission`
    is the token to check out with, until `admissionExpiresAt`. A draw's entry is `entered` until
    the draw is made, then `won` (with the `orderId` the draw reserved) or `not_won`. Not entered: 404; an open drop: 409 `not_a_queue`. The answer may carry an admission
    token: never cached."""
    return EntryStatusView.of_status(services().queues.status(req.shopper_id, req.path["session_id"],
                                                              req.path["product_id"]))
