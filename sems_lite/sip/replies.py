"""Building responses to requests (RFC 3261 §8.2.6)."""

from __future__ import annotations

from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request, Response

REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
}

# Headers copied from the request into every response, in this order.
_COPIED = ("Via", "From", "To", "Call-ID", "CSeq")


def make_response(
    req: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    out = Headers()
    for name in _COPIED:
        # Via lines are copied as they came, in order (a response retraces the path).
        values = [v for n, v in req.headers.items() if n == "Via"] if name == "Via" else None
        for value in values if values is not None else _raw(req, name):
            if name == "To" and to_tag and not _has_tag(req):
                value = f"{value};tag={to_tag}"
            out.add(name, value)
    if status == 100 and "Timestamp" in req.headers:
        out.add("Timestamp", req.headers.get("Timestamp") or "")
    for name, value in headers or ():
        out.add(name, value)
    if content_type:
        out.add("Content-Type", content_type)
    return Response(status, reason or REASONS.get(status, "Unknown"), out, body)


def _raw(req: Request, name: str) -> list[str]:
    value = req.headers.get(name)
    return [] if value is None else [value]


def _has_tag(req: Request) -> bool:
    try:
        return req.to_addr.tag is not None
    except ValueError:
        return True  # an unparsable To is echoed untouched
