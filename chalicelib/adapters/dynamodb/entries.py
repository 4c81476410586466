"""Entries of queue and draw drops in DynamoDB: the `entries` table, one partition per drop.

    dropKey = <sessionId>#<productId>
    entryKey = <shopperId>     an entry: position, joinedAt
               #pos#<k>        position counter k: n, the numbers it handed out
               #queue          the queue's admission steps (domain/queues.py)
               #draw           the draw's record (the DRAW slice's)

A join is at most three requests: a read of the shopper's entry (a retry gets it back and
takes no number), an `ADD n 1` on one counter picked at random (one counter item takes about
1,000 writes a second; a drop expecting more has several), and a put of the entry conditioned
on there being none, so two racing joins of one shopper keep one entry: the loser answers the
winner's and its number is left unused.
"""
from __future__ import annotations

import random

from chalicelib.adapters.dynamodb.models import Db, EntryModel
from chalicelib.adapters.dynamodb.support import ConditionFailed, put_or_old
from chalicelib.domain.queues import position_of
from chalicelib.domain.records import Entry

STATE_PREFIX = "#"  # entryKeys of the drop's own items; shopper ids never start with it
AFTER_STATE = "$"   # the character after "#": entryKey >= "$" is every entry and no state item


def drop_key(session_id: str, product_id: str) -> str:
    return f"{session_id}#{product_id}"


def counter_key(counter: int) -> str:
    return f"{STATE_PREFIX}pos#{counter}"


def _entry(session_id: str, product_id: str, row: EntryModel) -> Entry:
    return Entry(session_id=session_id, product_id=product_id, shopper_id=row.entry_key,
                 position=int(row.position), joined_at=row.joined_at)


class EntryRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def join(self, session_id: str, product_id: str, shopper_id: str, shards: int, now: str) -> tuple[Entry, bool]:
        existing = self.get(session_id, product_id, shopper_id)
        if existing is not None:
            return existing, False
        key = drop_key(session_id, product_id)
        counter = random.randrange(shards)
        answer = EntryModel._get_connection().update_item(
            key, range_key=counter_key(counter), actions=[EntryModel.n.add(1)], return_values="UPDATED_NEW")
        count = int(answer["Attributes"]["n"]["N"])
        entry = Entry(session_id, product_id, shopper_id, position_of(count, counter, shards), now)
        try:
            put_or_old(EntryModel(key, shopper_id, position=entry.position, joined_at=now),
                       condition=EntryModel.entry_key.does_not_exist())
        except ConditionFailed as lost:  # the shopper's other join got there first
            if lost.old is None:
                raise
            return _entry(session_id, product_id, lost.old), False
        return entry, True

    def get(self, session_id: str, product_id: str, shopper_id: str) -> Entry | None:
        if shopper_id.startswith(STATE_PREFIX):
            return None
        try:
            row = EntryModel.get(drop_key(session_id, product_id), shopper_id, consistent_read=True)
        except EntryModel.DoesNotExist:
            return None
        return _entry(session_id, product_id, row)

    def entrants(self, session_id: str, product_id: str) -> list[str]:
        # PynamoDB follows every page; only the keys are read.
        rows = EntryModel.query(drop_key(session_id, product_id), EntryModel.entry_key >= AFTER_STATE,
                                consistent_read=True, attributes_to_get=["entryKey"])
        return [row.entry_key for row in rows]
