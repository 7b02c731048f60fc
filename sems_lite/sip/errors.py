"""The one exception the SIP message layer raises.

Rules kept here:
- Every syntax problem in bytes that came off the wire is a `SipParseError`, never
  another exception, so the transport glue needs exactly one `except`.
- `status` is the response a UAS should send (400, or 505 for an unknown SIP version);
  `reason` doubles as its reason phrase, so it stays short, ASCII and single-line.
- `partial` carries whatever could be read (start line and headers) so that a 400 can
  still copy Via/From/To/Call-ID/CSeq from the broken request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sems_lite.sip.message import Request, Response


class SipParseError(ValueError):
    """A SIP message, header or URI that does not follow the grammar."""

    def __init__(
        self, reason: str, status: int = 400, partial: Request | Response | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.partial = partial

    def __repr__(self) -> str:
        return f"SipParseError({self.reason!r}, status={self.status})"
