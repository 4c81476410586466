"""Webhooks: which changes are events, when to try again, Standard Webhooks signatures, and which
URLs and addresses may be called. Pure: randomness comes from `secrets` or an `rng` passed in.

Signatures follow https://www.standardwebhooks.com/ (spec/standard-webhooks.md): the secret is
"whsec_" + base64 of random bytes; the signed content is "{id}.{timestamp}.{body}"; the header is
"v1,<base64 HMAC-SHA256>", one per secret, space-separated (a rotation sends both).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import random
import re
import secrets as secure_random
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Sequence
from urllib.parse import urlsplit

from chalicelib.domain.clock import parse_iso
from chalicelib.domain.ids import new_id

# --- events ------------------------------------------------------------------------------------------

EVENT_TYPES: tuple[str, ...] = (
    "order.reserved", "order.paid", "order.cancelled", "order.expired", "order.refunded",
    "drop.opened", "drop.sold_out",
    "session.live", "session.ended",
    "product.featured",
)
PING = "ping"

# An order that ends in one of these is an event; paying (and a failed payment back to reserved) is not.
_ORDER_ENDINGS = {"paid": "order.paid", "cancelled": "order.cancelled", "expired": "order.expired"}
_SESSION_EVENTS = {"live": "session.live", "ended": "session.ended"}
_TIMELINE_EVENTS = {"feature": "product.featured", "drop_open": "drop.opened", "sold_out": "drop.sold_out"}

# A session's status only moves forward, so its rank is its sequence; a drop opens before it sells out.
SESSION_SEQUENCE = {"scheduled": 1, "live": 2, "ended": 3}
DROP_SEQUENCE = {"drop.opened": 1, "drop.sold_out": 2}


def order_event(old_status: str | None, new_status: str) -> str | None:
    """The event of an order's write: its creation as reserved, or a change into an ending."""
    if old_status is None:
        return "order.reserved" if new_status == "reserved" else None
    if old_status == new_status:
        return None
    return _ORDER_ENDINGS.get(new_status)


def is_refund(old_refunded_at: str | None, new_refunded_at: str | None) -> bool:
    """A paid order's refund, recorded by this write (its status stays `paid`)."""
    return new_refunded_at is not None and old_refunded_at is None


def session_event(old_status: str | None, new_status: str) -> str | None:
    """Going live or ending; any other write of a session (a title, a lineup) is no event."""
    if old_status == new_status:
        return None
    return _SESSION_EVENTS.get(new_status)


def timeline_event(entry_type: str) -> str | None:
    """A timeline entry's event; "stock" (the units-left ticker) is too chatty to be one."""
    return _TIMELINE_EVENTS.get(entry_type)


# --- retries ---------------------------------------------------------------------------------------------

DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_DELAY_SECONDS = 86400
JITTER = 0.1  # +-10 %: receivers that failed together are not all retried in the same second
TIMEOUT_SECONDS = 15
DISABLE_AFTER = timedelta(days=5)

_DELTA_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 delta-seconds: digits only (str.isdigit takes "²")


def parse_schedule(text: str) -> tuple[float, ...]:
    """"5, 300" -> (5.0, 300.0). Raises ValueError naming the part that is not a delay."""
    if not text.strip():
        raise ValueError("the retry schedule needs at least one delay (seconds separated by commas)")
    delays = []
    for position, part in enumerate(text.split(","), start=1):
        stripped = part.strip()
        try:
            delay = float(stripped)
        except ValueError:
            raise ValueError(f"retry schedule: part {position} ({stripped!r}) is not a number of seconds") from None
        if not 0 <= delay <= MAX_DELAY_SECONDS:  # also refuses nan and inf
            raise ValueError(f"retry schedule: part {position} ({stripped!r}) is not between 0 and "
                             f"{MAX_DELAY_SECONDS} seconds")
        delays.append(delay)
    return tuple(delays)


def retry_delay(failed_attempts: int, schedule: Sequence[float], rng: random.Random) -> float | None:
    """Seconds to wait after the n-th failed automatic attempt (1-based); None: no retries left."""
    if failed_attempts < 1:
        raise ValueError(f"failed_attempts counts from 1, not {failed_attempts}")
    if failed_attempts > len(schedule):
        return None
    return schedule[failed_attempts - 1] * rng.uniform(1 - JITTER, 1 + JITTER)


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """A Retry-After header (RFC 9110: delta-seconds or an HTTP-date) as seconds from now, within
    0..86400 (a receiver may not park a delivery for longer); None when absent or unreadable."""
    if header is None:
        return None
    value = header.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(min(int(value), MAX_DELAY_SECONDS))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # the asctime form carries no zone: HTTP dates are all GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return min(max((moment - now).total_seconds(), 0.0), float(MAX_DELAY_SECONDS))


def outcome(status: int | None) -> str:
    """"succeeded", "gone" (410: disable the endpoint), "throttled" (honour Retry-After) or "failed"
    (3xx too: redirects are not followed; None: no answer)."""
    if status is None:
        return "failed"
    if 200 <= status <= 299:
        return "succeeded"
    if status == 410:
        return "gone"
    if status in (429, 503):
        return "throttled"
    return "failed"


def should_disable(failing_since: str | None, now: datetime) -> bool:
    """Failing, without a success in between, for DISABLE_AFTER or longer."""
    return failing_since is not None and now - parse_iso(failing_since) >= DISABLE_AFTER


# --- secrets and signatures ------------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
USER_AGENT = "Livedrop-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secure_random.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a "whsec_..." secret stands for. Raises ValueError for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a signing secret may not be empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    # A "." in the id would let one (id, timestamp) pair pass for another: ours never have one.
    if "." in msg_id:
        raise ValueError("a webhook id may not contain '.'")
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: str) -> str:
    """One signature per secret, current first: a receiver holding either secret can verify."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets)


def headers(msg_id: str, timestamp: int, body: str, secrets: Sequence[str]) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


# --- ids ---------------------------------------------------------------------------------------------------


def _digest24(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def new_endpoint_id() -> str:
    return new_id("whk")


def event_id(event_type: str, subject: str, distinguisher: str = "") -> str:
    """Derived, not random: the same change read again from a stream is the same event."""
    return "evt_" + _digest24(event_type, subject, distinguisher)


def delivery_id(endpoint_id: str, event_id: str) -> str:
    """Derived: putting the same (endpoint, event) twice is one delivery."""
    return "dlv_" + _digest24(endpoint_id, event_id)


def is_delivery_id(value: str) -> bool:
    """Whether `value` could be a delivery id (others are not looked up)."""
    return len(value) == 28 and value.startswith("dlv_") and all(c in "0123456789abcdef" for c in value[4:])


def new_ping_event_id() -> str:
    """Random: every test ping is a new event."""
    return "evt_" + secure_random.token_hex(12)


# --- where webhooks may go ---------------------------------------------------------------------------------

MAX_URL_LENGTH = 2048

# Named in refusals: a webhook pointed here would hand out the platform's credentials.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
    "fd00:ec2::254",    # AWS instance metadata over IPv6
    "169.254.170.2",    # AWS ECS task metadata and credentials
    "100.100.100.200",  # Alibaba Cloud metadata
))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")    # well-known NAT64 prefix: the last 32 bits are IPv4
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")  # letters, digits, hyphens (underscores occur in DNS)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches through mapping, 6to4 or NAT64 (the kernel or a
    gateway may route it there): that is the one to judge."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address, local_mode: bool) -> str | None:
    """What makes the address unfit for a webhook, or None."""
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if local_mode else "a loopback address"  # a developer's receiver under make run
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:  # fec0::/10: deprecated, still routed inside
        return "a site-local address"
    if address.is_multicast:  # is_global is True for global multicast scopes: not a receiver
        return "a multicast address"
    if address.version == 4 and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:  # is_global is True for some reserved IPv6 (::/8): checked apart
        return "a reserved address"
    if address.is_private:
        return "a private or special-purpose address"
    if not address.is_global:
        return "not a public address"
    return None


def address_refusal(ip: str, local_mode: bool) -> str | None:
    """Why a webhook may not connect to this address, else None. Only globally routable unicast
    addresses are allowed (and loopback in local mode)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # a zone (fe80::1%eth0) changes nothing
    except ValueError:
        return f"{ip!r} is not an IP address"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            inner_kind = _kind(inner, local_mode)
            if inner_kind is not None:
                return f"{ip} leads to {inner}, {inner_kind}"
            if address.ipv4_mapped is not None or address in _NAT64:
                return None  # only a spelling of the IPv4 address just judged
    kind = _kind(address, local_mode)
    return None if kind is None else f"{ip} is {kind}"


def url_problem(url: str, local_mode: bool) -> str | None:
    """What is wrong with a webhook URL on its face (no DNS here: the sender resolves and checks
    the addresses at registration and again at each delivery), else None."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return "the URL may not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL is not valid (its host or port cannot be read)"
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if local_mode else ("https",)
    if scheme not in allowed:
        return "the URL must be https" + (" or http" if local_mode else "")
    if "@" in parts.netloc:
        return "the URL may not carry a user name or password"
    host = parts.hostname
    if not host:
        return "the URL needs a host"
    if "#" in url:
        return "the URL may not have a fragment (it is never sent)"
    if port == 0:
        return "the URL's port must be between 1 and 65535"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return _name_problem(host, local_mode)
    return address_refusal(host, local_mode)


def _name_problem(host: str, local_mode: bool) -> str | None:
    labels = host.rstrip(".").split(".")
    # "127.1", "0x7f.0.0.1", "2130706433": no DNS name, but resolvers read them as IPv4 addresses.
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return f"the host {host} is an IPv4 address in a non-standard form"
    if not local_mode and labels[-1] == "localhost":  # RFC 6761: always loopback
        return f"the host {host} is the local machine"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"the host {host} is not a valid name"
    if not _HOST_NAME.fullmatch(ascii_host):
        return f"the host {host} is not a valid name"
    return None
