"""`sems-lite ctl`: a command line client for the control interface's JSON-RPC.

It speaks HTTP/1.1 over a plain socket with `http11` (no urllib/http.client: on OpenWRT
those are extra packages), one request per connection, blocking with a timeout — this is
a short-lived command, not code on the server's loop.

    sems-lite ctl [--url URL] [--token TOKEN] status | calls | hangup ID | drain
    sems-lite ctl call METHOD [PARAMS_JSON]

The token may also come from $SEMS_LITE_TOKEN (keeps it out of `ps`). Exit status: 0 on
success, 1 on an RPC, HTTP or connection error, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

from sems_lite.http11 import parse_response

DEFAULT_URL = "http://127.0.0.1:8090"
MAX_RESPONSE = 16 << 20


class CtlError(Exception):
    """Anything that keeps a command from getting a result."""


def parse_url(url: str) -> tuple[str, int, str]:
    """'http://host[:port][/base]' -> (host, port, base path without trailing '/')."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "http":
        raise CtlError(f"unsupported URL {url!r}: only http:// is spoken")
    authority, slash, path = rest.partition("/")
    if authority.startswith("["):  # IPv6 literal
        host, _, tail = authority[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    if not host:
        raise CtlError(f"no host in URL {url!r}")
    try:
        port = int(port_text) if port_text else 80
    except ValueError:
        raise CtlError(f"bad port in URL {url!r}") from None
    return host, port, ("/" + path).rstrip("/") if slash else ""


def rpc(
    url: str, method: str, params: Any = None, token: str | None = None, timeout: float = 5.0
) -> Any:
    """Call one JSON-RPC method and return its result; CtlError on any failure."""
    host, port, base = parse_url(url)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        message["params"] = params
    body = json.dumps(message).encode()
    host_field = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = [
        f"POST {base}/rpc HTTP/1.1",
        f"Host: {host_field}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if token:
        head.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    raw = _exchange(host, port, request, timeout)
    try:
        response = parse_response(raw)
    except ValueError as exc:
        raise CtlError(f"bad HTTP response from {url}: {exc}") from None
    if response.status != 200:
        detail = response.body.decode("utf-8", "replace").strip()
        raise CtlError(f"HTTP {response.status} {response.reason}: {detail}")
    try:
        answer = json.loads(response.body)
    except ValueError:
        raise CtlError("the server's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise CtlError("unexpected JSON-RPC answer")
    if "error" in answer:
        error = answer["error"] or {}
        text = f"error {error.get('code')}: {error.get('message')}"
        if error.get("data") is not None:
            text += f" ({error['data']})"
        raise CtlError(text)
    return answer.get("result")


def _exchange(host: str, port: int, request: bytes, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE:
                    raise CtlError("response too large")
    except OSError as exc:
        raise CtlError(f"cannot talk to the control interface at {host}:{port}: {exc}") from None
    return b"".join(chunks)


# -- output ---------------------------------------------------------------------------------
def format_result(result: Any) -> str:
    """Human-readable text: a mapping as 'key: value' lines (nested keys dotted), a list of
    mappings as a table, anything else as JSON."""
    if isinstance(result, dict):
        return "\n".join(f"{key}: {value}" for key, value in _flatten(result, ""))
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return _table(result)
    if isinstance(result, list) and not result:
        return "(none)"
    return json.dumps(result)


def _flatten(mapping: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines.extend(_flatten(value, name + "."))
        else:
            lines.append((name, value if isinstance(value, str) else json.dumps(value)))
    return lines


def _table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    cells = [columns] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


# -- command line ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sems-lite ctl", description="Talk to a running sems-lite."
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"control URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--token",
        default=os.environ.get("SEMS_LITE_TOKEN"),
        help="bearer token (default: $SEMS_LITE_TOKEN)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="server status")
    sub.add_parser("calls", help="list active calls")
    hangup = sub.add_parser("hangup", help="hang up a call")
    hangup.add_argument("id", help="call id as shown by 'calls'")
    sub.add_parser("drain", help="refuse new calls (503), let current calls finish")
    call = sub.add_parser("call", help="call any JSON-RPC method")
    call.add_argument("method")
    call.add_argument("params", nargs="?", help="JSON array or object")
    return parser


def _request(args: argparse.Namespace) -> tuple[str, Any]:
    if args.command == "status":
        return "status", None
    if args.command == "calls":
        return "calls.list", None
    if args.command == "hangup":
        return "calls.hangup", [args.id]  # by position: independent of the parameter's name
    if args.command == "drain":
        return "server.drain", None
    try:
        params = json.loads(args.params) if args.params is not None else None
    except ValueError:
        raise CtlError("PARAMS must be JSON (an array or an object)") from None
    if params is not None and not isinstance(params, list | dict):
        raise CtlError("PARAMS must be a JSON array or object")
    return args.method, params


def main(argv: list[str]) -> int:
    """Entry point for `sems-lite ctl ARGS...` (argv excludes 'ctl')."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    try:
        method, params = _request(args)
        result = rpc(args.url, method, params, token=args.token, timeout=args.timeout)
    except CtlError as exc:
        print(f"sems-lite ctl: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0
