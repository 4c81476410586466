"""What can go wrong, said in the domain's words. No HTTP here: each error carries the facts a
client needs (`facts()`, in the API's field names), and chalicelib/api/problems.py maps each class
to one problem type and one status.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal a client can cause or meet. Anything else that escapes is a bug."""

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self._facts = facts

    def facts(self) -> dict[str, Any]:
        """Fields for the client beside `detail` (e.g. productId, left); None values are left out."""
        return {name: value for name, value in self._facts.items() if value is not None}


# --- input and identity --------------------------------------------------------------------------


class InvalidInput(DomainError):
    """`errors` lists every offending field; `field` names the first."""

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail, field=errors[0]["field"] if errors else None, errors=errors)
        self.errors = errors

    @classmethod
    def of(cls, field: str, message: str) -> "InvalidInput":
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class Unauthorized(DomainError):
    pass


class NotFound(DomainError):
    """Missing, or another brand's: the two are never told apart (domain/ownership.py)."""

    def __init__(self, kind: str, ident: str, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(detail or f"{kind} {ident} not found", field=field)


class IdempotencyKeyReused(DomainError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request")


class RateLimited(DomainError):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retryAfter=retry_after)
        self.retry_after = retry_after


# --- passing conditions: retry later ---------------------------------------------------------------


class Busy(DomainError):
    """Contention (or a backing service throttling or failing) outlasted our retries: nothing
    was changed, and the same request may be sent again."""

    def __init__(self, detail: str = "a backing service is busy or unavailable; retry", retry_after: int = 1) -> None:
        super().__init__(detail, retryAfter=retry_after)
        self.retry_after = retry_after


class PaymentOutcomeUnknown(DomainError):
    """The provider could not be reached, or its answer could not be recorded: the order stays
    `paying` (its units held) until a retry, the provider's webhook or reconciliation settles it."""

    def __init__(self) -> None:
        super().__init__("the payment's outcome is not known yet; retry the request (it charges at most once)",
                         retryAfter=5)
        self.retry_after = 5


# --- catalogue -----------------------------------------------------------------------------------


class InsufficientStock(DomainError):
    def __init__(self, stock: int | None, wanted: int | None = None) -> None:
        detail = (f"stock is {stock}; it can not go below zero" if wanted is None
                  else f"the product has fewer than {wanted} units in stock")
        super().__init__(detail, stock=stock)
        self.stock = stock


# --- sessions and lineups ------------------------------------------------------------------------


class InvalidTransition(DomainError):
    """A session is in a status the action can not start from."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a session that is {current} can not become {target}", currentStatus=current)
        self.current = current


class SessionNotEditable(DomainError):
    def __init__(self, status: str) -> None:
        super().__init__(f"the lineup of an {status} session can not change", currentStatus=status)


class SessionChanged(DomainError):
    """The session moved (started, ended, deleted) while the request was acting on it."""

    def __init__(self, detail: str = "the session changed meanwhile; read it again") -> None:
        super().__init__(detail)


class AlreadyInLineup(DomainError):
    def __init__(self, product_id: str) -> None:
        super().__init__("the product is already in this session's lineup", productId=product_id)


class SessionLive(DomainError):
    def __init__(self) -> None:
        super().__init__("end the show before deleting it")


class SessionHasDrops(DomainError):
    def __init__(self) -> None:
        super().__init__("this session holds drops; it can be deleted once it has ended")


class SessionEnded(DomainError):
    def __init__(self, detail: str = "the show has ended") -> None:
        super().__init__(detail)


class SessionNotLive(DomainError):
    def __init__(self, detail: str = "this happens during the show") -> None:
        super().__init__(detail)


class ChatClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("the chat of this session is closed")


# --- drops and orders ----------------------------------------------------------------------------


class SoldOut(DomainError):
    def __init__(self, product_id: str, left: int) -> None:
        super().__init__("sold out" if left == 0 else f"only {left} left", productId=product_id, left=left)
        self.product_id, self.left = product_id, left


class LimitExceeded(DomainError):
    def __init__(self, product_id: str, limit: int, bought: int | None = None) -> None:
        detail = f"at most {limit} per customer" + ("" if bought is None else f"; you hold {bought}")
        super().__init__(detail, productId=product_id, limit=limit, bought=bought)
        self.limit, self.bought = limit, bought


class HoldLimitReached(DomainError):
    """A shopper holds as many unpaid orders in this session as anyone may (the hold cap)."""

    def __init__(self, open_orders: int, limit: int) -> None:
        super().__init__(f"you hold {open_orders} unpaid orders in this session, the most anyone may: "
                         "pay or cancel one first", openOrders=open_orders, limit=limit)


class DropByDraw(DomainError):
    """A draw drop's units go to the draw's winners, as reservations the draw makes."""

    def __init__(self, product_id: str) -> None:
        super().__init__("this drop is sold by draw: enter it before it opens", productId=product_id,
                         field="items")


class AdmissionRequired(DomainError):
    """A queue drop is bought with the admission its queue gave this shopper, still valid."""

    def __init__(self, product_id: str) -> None:
        super().__init__("this drop is sold in queue order: join its queue and send the admission it gives you",
                         productId=product_id, field="admission")


class DropNotOpen(DomainError):
    def __init__(self, product_id: str, opens_at: str | None) -> None:
        detail = f"this drop opens at {opens_at}" if opens_at else "this drop is not open yet"
        super().__init__(detail, productId=product_id, opensAt=opens_at)
        self.opens_at = opens_at


class DropOpened(DomainError):
    """A drop's price, limit or place in the lineup changes only before it opens (nothing sold
    or held yet)."""

    def __init__(self, product_id: str, opens_at: str | None) -> None:
        detail = (f"this drop opened at {opens_at}: it can no longer change or leave the lineup" if opens_at
                  else "this drop has opened: it can no longer change or leave the lineup")
        super().__init__(detail, productId=product_id, opensAt=opens_at)


class DropClosed(DomainError):
    def __init__(self, product_id: str, closes_at: str | None) -> None:
        detail = f"this drop closed at {closes_at}" if closes_at else "this drop has closed"
        super().__init__(detail, productId=product_id, closesAt=closes_at)


class DrawNotDue(DomainError):
    """A draw is made once entries close, at its drop's opensAt: not before."""

    def __init__(self, product_id: str, opens_at: str | None) -> None:
        super().__init__(f"entries are taken until {opens_at}; the draw is made then", productId=product_id,
                         opensAt=opens_at)


class NotAQueue(DomainError):
    """Entries are for queue and draw drops; an open drop is bought directly."""

    def __init__(self, product_id: str) -> None:
        super().__init__("this drop is first come, first served: there is no queue or draw to enter; order it",
                         productId=product_id)


class VerificationRequired(DomainError):
    """A verified-only drop, and the shopper's token is an anonymous one."""

    def __init__(self, product_id: str) -> None:
        super().__init__("this drop is for verified shoppers only: sign in for a verified shopper token",
                         productId=product_id)


class EntriesClosed(DomainError):
    """A draw takes entries until its opensAt (the draw's time)."""

    def __init__(self, product_id: str, opens_at: str | None) -> None:
        super().__init__(f"entries to this draw closed at {opens_at}", productId=product_id, opensAt=opens_at)


class OrderTooLarge(DomainError):
    """More than one DynamoDB transaction can carry, or a total above the money bound."""

    def __init__(self, detail: str, field: str = "items") -> None:
        super().__init__(detail, field=field)


class OrderNotPayable(DomainError):
    def __init__(self, status: str) -> None:
        super().__init__(f"an order that is {status} can not be paid", orderStatus=status)
        self.status = status


class OrderExpired(DomainError):
    def __init__(self) -> None:
        super().__init__("the reservation has expired; its units are being released", orderStatus="reserved")


class PaymentInProgress(DomainError):
    def __init__(self) -> None:
        super().__init__("another payment for this order is under way; retry shortly", orderStatus="paying",
                         retryAfter=5)
        self.retry_after = 5


class OrderNotRefundable(DomainError):
    def __init__(self, status: str) -> None:
        super().__init__(f"an order that is {status} can not be refunded; only a paid order can", orderStatus=status)


class OrderNotCancellable(DomainError):
    def __init__(self, status: str) -> None:
        super().__init__(f"an order that is {status} can not be cancelled", orderStatus=status)
        self.status = status


class SignatureRefused(DomainError):
    """A provider's webhook whose signature does not verify (or is too old): not acted on."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the webhook's signature was refused: {reason}", field="Stripe-Signature")


class ProviderRefused(DomainError):
    """The payment provider refused a request Livedrop made (its configuration, not the buyer's card)."""

    def __init__(self, code: str | None) -> None:
        super().__init__("the payment provider refused a request Livedrop made; nothing was charged", providerCode=code)


class PaymentDeclined(DomainError):
    def __init__(self, reason: str | None) -> None:
        super().__init__(f"the payment was declined ({reason}); the order stays reserved", reason=reason)
        self.reason = reason


# --- webhooks ------------------------------------------------------------------------------------


class TooManyEndpoints(DomainError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a brand has at most {limit} webhook endpoints; delete one first", limit=limit)


class EndpointDisabled(DomainError):
    def __init__(self, reason: str | None) -> None:
        super().__init__("the endpoint is disabled: enable it first (PATCH status: enabled)", disabledReason=reason)


class DeliveryInFlight(DomainError):
    def __init__(self) -> None:
        super().__init__("the delivery is being attempted right now; look at it again in a moment")
