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
from chalicelib.adapters.dynamodb.support import (
    Cancelled, ConditionFailed, Transaction, put_or_old, transact, update_or_old,
)
from chalicelib.domain.errors import EntriesClosed
from chalicelib.domain.queues import STEP_MS, QueueState, Step, highest_position, position_of
from chalicelib.domain.records import Entry

STATE_PREFIX = "#"  # entryKeys of the drop's own items; shopper ids never start with it
AFTER_STATE = "$"   # the character after "#": entryKey >= "$" is every entry and no state item
QUEUE = "#queue"
CLOSED = "#closed"  # a draw's entries closed (adapters/dynamodb/draws.py writes it)


def drop_key(session_id: str, product_id: str) -> str:
    return f"{session_id}#{product_id}"


def counter_key(counter: int) -> str:
    return f"{STATE_PREFIX}pos#{counter}"


def _queue(row: EntryModel | None, issued: int) -> QueueState:
    if row is None or row.last_step_ms is None:
        return QueueState(issued=issued)
    return QueueState(
        steps=tuple(Step(int(at), int(up_to), int(left)) for at, up_to, left in row.steps or ()),
        lapsed_through=int(row.lapsed_through or 0), last_step_ms=int(row.last_step_ms),
        left=None if row.left is None else int(row.left),
        last_admission_ms=None if row.last_admission_ms is None else int(row.last_admission_ms),
        closed=bool(row.closed), issued=issued)


def _entry(session_id: str, product_id: str, row: EntryModel) -> Entry:
    return Entry(session_id=session_id, product_id=product_id, shopper_id=row.entry_key,
                 position=int(row.position), joined_at=row.joined_at)


class EntryRepository:
    def __init__(self, db: Db) -> None:
        self.db = db

    def join(self, session_id: str, product_id: str, shopper_id: str, shards: int, now: str,
             closable: bool = False) -> tuple[Entry, bool]:
        existing = self.get(session_id, product_id, shopper_id)
        if existing is not None:
            return existing, False
        key = drop_key(session_id, product_id)
        counter = random.randrange(shards)
        answer = EntryModel._get_connection().update_item(
            key, range_key=counter_key(counter), actions=[EntryModel.n.add(1)], return_values="UPDATED_NEW")
        count = int(answer["Attributes"]["n"]["N"])
        entry = Entry(session_id, product_id, shopper_id, position_of(count, counter, shards), now)
        row = EntryModel(key, shopper_id, position=entry.position, joined_at=now)
        if closable:
            return self._join_unless_closed(session_id, product_id, row, entry)
        try:
            put_or_old(row, condition=EntryModel.entry_key.does_not_exist())
        except ConditionFailed as lost:  # the shopper's other join got there first
            if lost.old is None:
                raise
            return _entry(session_id, product_id, lost.old), False
        return entry, True

    def _join_unless_closed(self, session_id: str, product_id: str, row: EntryModel,
                            entry: Entry) -> tuple[Entry, bool]:
        """A draw's entry is put only while its `#closed` mark is absent, in one transaction: the
        draw writes the mark before it reads the entrants, so an entry is either in the draw or
        refused, never written after the entrants were read."""
        tx = Transaction()
        tx.put("entry", row, condition=EntryModel.entry_key.does_not_exist())
        tx.check("closed", EntryModel(row.drop_key, CLOSED), condition=EntryModel.entry_key.does_not_exist())
        try:
            transact(self.db.client, tx)
        except Cancelled as cancelled:
            if "closed" in cancelled:
                raise EntriesClosed(product_id, None) from None
            old = cancelled.old("entry")
            if old is None:
                raise
            return _entry(session_id, product_id, old), False  # type: ignore[arg-type]
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

    def read(self, session_id: str, product_id: str, shopper_id: str, shards: int) -> tuple[Entry | None, QueueState]:
        """One BatchGetItem: the entry, `#queue` and the position counters."""
        key = drop_key(session_id, product_id)
        is_shopper = not shopper_id.startswith(STATE_PREFIX)
        wanted = [QUEUE] + [counter_key(k) for k in range(shards)] + ([shopper_id] if is_shopper else [])
        rows = {row.entry_key: row for row in EntryModel.batch_get([(key, sk) for sk in wanted], consistent_read=True)}
        counts = {k: int(rows[counter_key(k)].n or 0) for k in range(shards) if counter_key(k) in rows}
        entry = rows.get(shopper_id) if is_shopper else None
        return (None if entry is None else _entry(session_id, product_id, entry),
                _queue(rows.get(QUEUE), highest_position(counts, shards)))

    def record_step(self, session_id: str, product_id: str, before: QueueState, after: QueueState) -> QueueState:
        last = EntryModel.last_step_ms
        condition = (last.does_not_exist() if before.last_step_ms is None
                     else (last == before.last_step_ms) & (last <= after.last_step_ms - STEP_MS))
        actions = [EntryModel.steps.set([[s.at_ms, s.up_to, s.left] for s in after.steps]),
                   EntryModel.lapsed_through.set(after.lapsed_through), last.set(after.last_step_ms),
                   EntryModel.closed.set(after.closed)]
        for attribute, value in ((EntryModel.left, after.left), (EntryModel.last_admission_ms, after.last_admission_ms)):
            actions.append(attribute.remove() if value is None else attribute.set(value))
        try:
            update_or_old(EntryModel, drop_key(session_id, product_id), range_key=QUEUE, actions=actions,
                          condition=condition)
        except ConditionFailed as taken:  # another reader took this step
            return _queue(taken.old, after.issued)
        return after
