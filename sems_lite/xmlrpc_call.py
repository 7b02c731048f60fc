"""XML-RPC calls from the loop: a methodCall out, a methodResponse (or fault) back.

Building and parsing are sans-IO and use the stdlib's `xmlrpc.client.dumps/loads`
(imported on first use: `xml` is an extra package on OpenWRT, needed only by the apps
that talk to an XML-RPC server). `xmlrpc_call` runs one call over
`sems_lite.core.http_client` without blocking the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sems_lite.core.http_client import HttpError, HttpRequest, HttpResponse, http_post

HEADERS = (("Content-Type", "text/xml"), ("User-Agent", "sems_lite"))


class XmlRpcError(Exception):
    """The call failed: transport, HTTP status, or a response that is not XML-RPC."""


class XmlRpcFault(XmlRpcError):
    """The server answered with a <fault>."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"fault {code}: {message}")
        self.code = code
        self.message = message


def require_xmlrpc() -> None:
    """Raise XmlRpcError now if the stdlib's XML-RPC cannot be imported (so an app that
    needs it fails when it is created, not on a caller's first PIN)."""
    try:
        import xmlrpc.client  # noqa: F401
    except ImportError as exc:
        problem = f"XML-RPC needs Python's xml package (python3-xml on OpenWRT): {exc}"
        raise XmlRpcError(problem) from None


def build_call(method: str, params: Sequence[Any]) -> bytes:
    """The methodCall document for `method(*params)`."""
    import xmlrpc.client

    try:
        text = xmlrpc.client.dumps(tuple(params), methodname=method, encoding="utf-8")
    except TypeError as exc:  # a parameter XML-RPC cannot carry (None, an object...)
        raise XmlRpcError(f"cannot encode the parameters of {method}: {exc}") from None
    return text.encode("utf-8")


def parse_response(body: bytes) -> Any:
    """The single value of a methodResponse; XmlRpcFault for a fault, XmlRpcError if the
    body is not a methodResponse with one value."""
    import xml.parsers.expat
    import xmlrpc.client

    try:
        params, _ = xmlrpc.client.loads(body)
    except xmlrpc.client.Fault as fault:
        raise XmlRpcFault(fault.faultCode, str(fault.faultString)) from None
    except (xml.parsers.expat.ExpatError, xmlrpc.client.ResponseError, ValueError) as exc:
        raise XmlRpcError(f"not an XML-RPC response: {exc}") from None
    if len(params) != 1:
        raise XmlRpcError(f"a methodResponse carries one value, this one {len(params)}")
    return params[0]


XmlRpcCallback = Callable[[Any, XmlRpcError | None], None]


def xmlrpc_call(
    loop: Any,
    url: str,
    method: str,
    params: Sequence[Any],
    timeout: float,
    callback: XmlRpcCallback,
) -> HttpRequest:
    """Call `method(*params)` at `url`; later `callback(value, None)` or
    `callback(None, error)`, exactly once unless the returned request is cancelled.

    Raises XmlRpcError at once for a URL or parameters that can never work.
    """
    body = build_call(method, params)

    def done(response: HttpResponse | None, error: HttpError | None) -> None:
        if response is None:
            callback(None, XmlRpcError(str(error)))
            return
        if response.status != 200:
            callback(None, XmlRpcError(f"{url}: HTTP {response.status} {response.reason}"))
            return
        try:
            value = parse_response(response.body)
        except XmlRpcError as exc:
            callback(None, exc)
            return
        callback(value, None)

    try:
        return http_post(loop, url, body, HEADERS, timeout, done)
    except HttpError as exc:
        raise XmlRpcError(str(exc)) from None
