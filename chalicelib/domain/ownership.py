"""The tenancy rule, in one place: another brand's resource is reported exactly like a missing
one (404), so a brand can not even learn that it exists."""
from __future__ import annotations

from typing import TypeVar

from chalicelib.domain.ids import is_id
from chalicelib.domain.errors import NotFound

Record = TypeVar("Record")


def found(record: Record | None, kind: str, ident: str, field: str | None = None) -> Record:
    if record is None:
        raise NotFound(kind, ident, field=field)
    return record


def owned(record: Record | None, brand_id: str, kind: str, ident: str, field: str | None = None) -> Record:
    if record is None or record.brand_id != brand_id:  # type: ignore[attr-defined]
        raise NotFound(kind, ident, field=field)
    return record


def well_formed(ident: str, prefix: str) -> bool:
    """Ids that can not exist are not looked up."""
    return is_id(ident, prefix)


def require_well_formed(ident: str, prefix: str, kind: str) -> str:
    """For writes that check ownership in their own condition: an id that can not exist is 404."""
    if not is_id(ident, prefix):
        raise NotFound(kind, ident)
    return ident
