"""A deliberately tiny SIP toolkit for the tests: build a few requests, read responses.

It is independent of sems_lite's own SIP code on purpose: the tests must not trust the
parser they are testing. It understands just enough (status line, headers with compact
forms and folding, Content-Length) to check what the box answers.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import socket
import time
from dataclasses import dataclass, field

from ._net import bare_host, family_of, host_port

# RFC 3261 §7.3.3 compact forms, to look headers up by their long name.
COMPACT = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
}

_counter = itertools.count(1)


def new_token(prefix: str = "") -> str:
    """A unique token for branches, tags and Call-IDs."""
    return f"{prefix}{os.getpid():x}x{next(_counter):x}x{time.monotonic_ns() & 0xFFFFFF:x}"


@dataclass
class Message:
    """A parsed SIP message: start line, headers in order, body."""

    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/")

    @property
    def status(self) -> int:
        """Status code of a response (ValueError for requests)."""
        return int(self.start_line.split(" ", 2)[1])

    @property
    def method(self) -> str:
        """Method of a request, or of the CSeq of a response."""
        if not self.is_response:
            return self.start_line.split(" ", 1)[0]
        cseq = self.header("cseq") or ""
        return cseq.split()[-1] if cseq.split() else ""

    def all(self, name: str) -> list[str]:
        """Every value of a header (long or compact name), comma lists not split."""
        want = COMPACT.get(name.lower(), name.lower())
        return [v for n, v in self.headers if COMPACT.get(n.lower(), n.lower()) == want]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def tokens(self, name: str) -> set[str]:
        """Comma-separated tokens of all values of a header, upper-cased (Allow, Supported)."""
        out: set[str] = set()
        for value in self.all(name):
            out.update(t.strip().upper() for t in value.split(",") if t.strip())
        return out


def parse(data: bytes) -> Message:
    """Parse one SIP message; raises ValueError on anything it does not understand."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers")
    lines = head.decode("utf-8", "replace").split("\r\n")
    start, rest = lines[0], lines[1:]
    unfolded: list[str] = []
    for line in rest:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    headers = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    msg = Message(start, headers, b"", data)
    length = msg.header("content-length")
    if length is not None:
        body = body[: int(length)]
    msg.body = body
    if msg.is_response and not re.fullmatch(r"SIP/2\.0 \d{3} .*", start):
        raise ValueError(f"bad status line {start!r}")
    return msg


def tag_of(value: str) -> str | None:
    """The tag parameter of a From/To value."""
    m = re.search(r";\s*tag\s*=\s*([^;\s,>]+)", value.split(">")[-1])
    return m.group(1) if m else None


def uri_of(value: str) -> str:
    """The URI inside a name-addr (or the bare addr-spec)."""
    if "<" in value:
        return value.split("<", 1)[1].split(">", 1)[0]
    return value.split(";", 1)[0].strip()


def build_request(
    method: str,
    ruri: str,
    *,
    local: str,
    to: str | None = None,
    from_tag: str | None = None,
    call_id: str | None = None,
    cseq: int = 1,
    branch: str | None = None,
    transport: str = "UDP",
    extra: list[str] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    """Build a request from the parts a test cares about; `local` is host:port of the sender."""
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {local};branch={branch or new_token('z9hG4bK')};rport",
        "Max-Forwards: 70",
        f"From: <sip:tester@{local}>;tag={from_tag or new_token('t')}",
        f"To: {to or '<' + ruri + '>'}",
        f"Call-ID: {call_id or new_token('c')}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:tester@{local}>",
    ]
    lines += extra or []
    if body:
        lines.append(f"Content-Type: {content_type or 'application/sdp'}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class UdpPeer:
    """A UDP socket that sends requests to the box and gathers what comes back."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.bind((bare_host(host), 0))
        self.local = host_port(host, self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> UdpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes, dest: tuple[str, int]) -> None:
        self.sock.sendto(data, (bare_host(dest[0]), dest[1]))

    def receive(self, timeout: float, *, until_final: bool = False) -> list[Message]:
        """Messages arriving within timeout; stop early at a final response if asked."""
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            try:
                data, _ = self.sock.recvfrom(65535)
            except ConnectionRefusedError:  # ICMP from an earlier send; not ours to judge
                continue
            try:
                msg = parse(data)
            except ValueError:
                msg = Message("<unparsable>", raw=data)
            out.append(msg)
            if until_final and msg.is_response and msg.status >= 200:
                break
        return out


def options_ping(host: str, port: int, timeout: float = 0.5) -> Message | None:
    """Send one OPTIONS over UDP and return the first final response, if any."""
    with UdpPeer(bare_host(host)) as peer:
        target = host_port(host, port)
        peer.send(build_request("OPTIONS", f"sip:ping@{target}", local=peer.local), (host, port))
        for msg in peer.receive(timeout, until_final=True):
            if msg.is_response and msg.status >= 200:
                return msg
    return None
