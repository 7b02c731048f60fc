"""Out-of-dialog requests the box originates (the INVITE of a dial-out), sans-IO."""

from __future__ import annotations

from collections.abc import Iterable

from sems_lite import randomness
from sems_lite.sip.dialog import new_tag
from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request
from sems_lite.sip.uri import SipUri
from sems_lite.sip.via import Via


def build_invite(
    target: SipUri,
    *,
    via: Via,
    from_uri: str,
    contact: str,
    user_agent: str,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Request:
    """A new INVITE to `target` with a fresh Call-ID and From tag (body added by the caller)."""
    headers = Headers()
    headers.add("Via", str(via))
    headers.add("Max-Forwards", "70")
    headers.add("From", f"<{from_uri}>;tag={new_tag()}")
    headers.add("To", f"<{target}>")
    headers.add("Call-ID", randomness.token_hex(12))
    headers.add("CSeq", "1 INVITE")
    headers.add("Contact", contact)
    headers.add("User-Agent", user_agent)
    for name, value in extra_headers:
        headers.add(name, value)
    return Request("INVITE", target, headers, b"")
