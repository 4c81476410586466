"""Rate limits: the rules, and the fixed window a request falls in.

A rule allows `limit` requests per `seconds` for one subject (a client address, a shopper, an
order). Time is cut into fixed windows of `seconds`; the window's index is in its key, so a new
window is a new item and nothing is ever reset: each item expires by TTL once its window is over.
A fixed window lets up to 2 x `limit` through across a window's edge (the end of one and the
start of the next); in exchange each check is one conditional write.

`LIVEDROP_RATE_LIMITS="shopper_mint=10/600,like=5/1"` overrides some rules (chalicelib/settings.py
refuses anything `parse` refuses, at cold start).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Mapping

from chalicelib.domain.errors import RateLimited

# A window's item outlives its window by this much: DynamoDB's TTL is lazy anyway, and a late
# request of the previous window must still find its item (it is refused, not counted anew).
EXPIRY_MARGIN_SECONDS = 60
MAX_SECONDS = 86_400  # a day: longer windows are not rate limits but quotas


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    seconds: int
    counted: str  # what is counted, plural ("likes")
    per: str  # whose budget it is ("per shopper in a session")

    @property
    def detail(self) -> str:
        """What a refusal says, e.g. "at most 5 likes a second per shopper in a session"."""
        span = "a second" if self.seconds == 1 else f"every {self.seconds} seconds"
        return f"at most {self.limit} {self.counted} {span} {self.per}"


DEFAULT_RULES: Mapping[str, Rule] = {rule.name: rule for rule in (
    # Anonymous identities are free: without this, any per-shopper rule is one POST away from reset.
    Rule("shopper_mint", 10, 600, "new shoppers", "per client address"),
    # Enforced inside the checkout's reservation transaction (its window item is one more item there).
    Rule("order", 2, 1, "orders", "per shopper"),
    # Card testing: many cards tried against one order.
    Rule("payment", 10, 60, "payment attempts", "per order"),
    Rule("like", 5, 1, "likes", "per shopper in a session"),
    Rule("chat_token", 5, 60, "chat tokens", "per shopper in a session"),
)}


def parse(text: str, defaults: Mapping[str, Rule] = DEFAULT_RULES) -> dict[str, Rule]:
    """`name=count/seconds,...` over the defaults (empty: the defaults). Raises ValueError naming
    every entry it refuses: an unknown name, a count or a window that is not a whole number in
    range, a rule given twice."""
    rules = dict(defaults)
    problems, seen = [], set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, _, value = (piece.strip() for piece in entry.partition("="))
        count, _, seconds = (piece.strip() for piece in value.partition("/"))
        if name not in defaults:
            problems.append(f"{name!r} is not a rule (rules: {', '.join(sorted(defaults))})")
        elif name in seen:
            problems.append(f"{name!r} is given twice")
        elif not (count.isdigit() and seconds.isdigit() and int(count) >= 1 and 1 <= int(seconds) <= MAX_SECONDS):
            problems.append(f"{entry!r} is not {name}=<count>/<seconds> with a count of at least 1 and "
                            f"1 to {MAX_SECONDS} seconds")
        else:
            rules[name] = replace(defaults[name], limit=int(count), seconds=int(seconds))
        seen.add(name)
    if problems:
        raise ValueError("; ".join(problems))
    return rules


@dataclass(frozen=True)
class Window:
    """One subject's window of one rule: its counter's key, how many it may count, when its item
    may go (epoch seconds), and the whole seconds from now to its end (at least 1)."""
    key: str
    limit: int
    expires_epoch: int
    retry_after: int


def window(rule: Rule, subject: str, now_ms: int) -> Window:
    length_ms = rule.seconds * 1000
    index = now_ms // length_ms
    ends_ms = (index + 1) * length_ms
    return Window(key=f"rate#{rule.name}#{subject}#{index}", limit=rule.limit,
                  expires_epoch=-(-ends_ms // 1000) + EXPIRY_MARGIN_SECONDS,
                  retry_after=max(1, -(-(ends_ms - now_ms) // 1000)))


def client_subject(address: str) -> str:
    """Whose budget a client address spends: an IPv4 address its own; an IPv6 one its /64, since
    one subscriber is commonly handed a whole /64 and could otherwise mint from each address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def refusal(rule: Rule, refused: Window) -> RateLimited:
    """The 429 of a request that found its window full."""
    return RateLimited(rule.detail, retry_after=refused.retry_after)
