"""SDP session descriptions (RFC 4566): model, parser and serializer.

Rules this module keeps:
- Sans-IO: text in, objects out; objects in, bytes out.
- `parse_sdp` raises only `SdpError`, naming the line number and text it choked on.
- Nothing is dropped: every line lands in a field (unknown line types are kept
  verbatim), so `serialize(parse_sdp(x)) == x` for well-formed CRLF input.
- Reading is tolerant: LF-only line ends, trailing blanks, lines in any order
  inside a section. Writing is canonical: CRLF, the order of RFC 4566 §5.
- Attribute values stay raw strings; helpers interpret the few that media needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sems_lite.sdp.static_pt import STATIC_PAYLOAD_TYPES

__all__ = [
    "Attribute",
    "Connection",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "parse_sdp",
]

# (name, value); value is None for a flag attribute such as a=sendrecv.
Attribute = tuple[str, str | None]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_DIRECTION_SET = frozenset(DIRECTIONS)


class SdpError(ValueError):
    """Malformed SDP. `line_no` (1-based) and `line` locate the fault when known."""

    def __init__(self, message: str, line_no: int | None = None, line: str | None = None):
        if line_no is not None:
            message = f"line {line_no}: {message}: {line!r}"
        super().__init__(message)
        self.line_no = line_no
        self.line = line


def _small_int(text: str, max_digits: int = 10) -> int | None:
    """A plain ASCII decimal, or None.

    str.isdigit alone lets through non-ASCII digits, and int() refuses (ValueError)
    strings over 4300 digits, so both are screened here.
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def _payload_type(text: str) -> int | None:
    """An RTP payload type (7 bits), or None."""
    pt = _small_int(text, 3)
    return pt if pt is not None and pt <= 127 else None


@dataclass
class Connection:
    """A c= line: `IN IP4 192.0.2.1` (address may carry a multicast /ttl suffix)."""

    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "0.0.0.0"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """IN IP6 for an IPv6 literal, IN IP4 otherwise."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    @property
    def host(self) -> str:
        """The address without a multicast /ttl or /count suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_null(self) -> bool:
        """True for 0.0.0.0 (RFC 2543 hold) or the IPv6 unspecified address."""
        return self.host in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.net_type} {self.addr_type} {self.address}"


@dataclass
class Origin:
    """An o= line."""

    username: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.net_type} {self.addr_type} {self.address}"
        )


@dataclass(frozen=True, eq=False)
class RtpMap:
    """An a=rtpmap value. `encoding` keeps its case; equality ignores it."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse `<pt> <encoding>/<clock rate>[/<channels>]`; raises SdpError."""
        pt_text, _, spec = value.strip().partition(" ")
        parts = spec.strip().split("/")
        pt = _payload_type(pt_text)
        numbers = [_small_int(p) for p in parts[1:]]
        if pt is None or len(parts) not in (2, 3) or not parts[0] or None in numbers:
            raise SdpError(f"bad rtpmap {value!r}")
        channels = numbers[1] if len(numbers) == 2 else 1
        return cls(pt, parts[0], numbers[0], channels)

    def matches(self, encoding: str, clock_rate: int, channels: int = 1) -> bool:
        return (
            self.encoding.lower() == encoding.lower()
            and self.clock_rate == clock_rate
            and self.channels == channels
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RtpMap):
            return NotImplemented
        return self.payload_type == other.payload_type and other.matches(
            self.encoding, self.clock_rate, self.channels
        )

    def __hash__(self) -> int:
        return hash((self.payload_type, self.encoding.lower(), self.clock_rate, self.channels))

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{suffix}"


class _Attributes:
    """Attribute look-ups shared by session and media level (names compare case-blind)."""

    attributes: list[Attribute]

    def get_attribute(self, name: str) -> str | None:
        """Value of the first `name` attribute; None if absent or a flag."""
        name = name.lower()
        for key, value in self.attributes:
            if key.lower() == name:
                return value
        return None

    def has_attribute(self, name: str) -> bool:
        name = name.lower()
        return any(key.lower() == name for key, _ in self.attributes)

    def get_attributes(self, name: str) -> list[str | None]:
        """Values of every `name` attribute, in order."""
        name = name.lower()
        return [value for key, value in self.attributes if key.lower() == name]

    def _direction_attribute(self) -> str | None:
        # The last one wins if a broken peer sends several.
        found = None
        for key, _ in self.attributes:
            key = key.lower()
            if key in _DIRECTION_SET:
                found = key
        return found


@dataclass
class MediaDescription(_Attributes):
    """One m= section."""

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    bandwidth: list[str] = field(default_factory=list)
    port_count: int | None = None  # the `/2` in `m=audio 49170/2 ...`
    info: str | None = None
    key: str | None = None
    extra_connections: list[Connection] = field(default_factory=list)  # multicast only
    extra_lines: list[tuple[str, str]] = field(default_factory=list)  # unknown types, verbatim

    def rtpmaps(self) -> dict[int, RtpMap]:
        """RTP maps of the listed formats, in m= order (static table for unmapped PTs)."""
        mapped: dict[int, RtpMap] = {}
        for value in self.get_attributes("rtpmap"):
            if value is None:
                continue
            try:
                rtpmap = RtpMap.parse(value)
            except SdpError:
                continue  # one bad rtpmap should not sink the others
            mapped.setdefault(rtpmap.payload_type, rtpmap)
        result: dict[int, RtpMap] = {}
        for fmt in self.formats:
            pt = _payload_type(fmt)
            if pt is None:
                continue
            if pt in mapped:
                result[pt] = mapped[pt]
            elif pt in STATIC_PAYLOAD_TYPES:
                name, rate, channels = STATIC_PAYLOAD_TYPES[pt]
                result[pt] = RtpMap(pt, name, rate, channels)
        return result

    def fmtp(self) -> dict[int, str]:
        """a=fmtp parameters by payload type (first one wins)."""
        result: dict[int, str] = {}
        for value in self.get_attributes("fmtp"):
            if value is None:
                continue
            pt_text, _, params = value.strip().partition(" ")
            pt = _payload_type(pt_text)
            if pt is not None:
                result.setdefault(pt, params.strip())
        return result

    @property
    def ptime(self) -> int | None:
        """a=ptime in ms, None if absent or unreadable."""
        value = self.get_attribute("ptime")
        if value is None:
            return None
        value = value.strip()
        # Some phones write "20.0"; only the integer part matters for our ticks.
        ms = _small_int(value.split(".", 1)[0], 5)
        return ms or None  # 0 is as meaningless as absent

    @property
    def direction(self) -> str:
        """Media-level direction, 'sendrecv' if none (see SessionDescription.media_direction)."""
        return self._direction_attribute() or "sendrecv"

    @property
    def rtcp_mux(self) -> bool:
        return self.has_attribute("rtcp-mux")


@dataclass
class SessionDescription(_Attributes):
    """A whole SDP body."""

    version: int = 0
    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: Connection | None = None
    times: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    bandwidth: list[str] = field(default_factory=list)
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    repeats: dict[int, list[str]] = field(default_factory=dict)  # r= lines by index in times
    timezones: str | None = None  # z=
    key: str | None = None
    extra_lines: list[tuple[str, str]] = field(default_factory=list)  # unknown types, verbatim

    def media_connection(self, index: int) -> Connection | None:
        """The connection for media `index`: its own c= or else the session c=."""
        return self.media[index].connection or self.connection

    def media_direction(self, index: int) -> str:
        """Direction of media `index`: media-level, else session-level, else sendrecv."""
        return self.media[index]._direction_attribute() or self._direction_attribute() or "sendrecv"

    def serialize(self) -> bytes:
        """The SDP as bytes: CRLF line ends, line order of RFC 4566 §5."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        _put(out, "i", self.info)
        _put(out, "u", self.uri)
        out.extend(f"e={v}" for v in self.emails)
        out.extend(f"p={v}" for v in self.phones)
        _put(out, "c", self.connection)
        out.extend(f"b={v}" for v in self.bandwidth)
        for index, timing in enumerate(self.times):
            out.append(f"t={timing}")
            out.extend(f"r={v}" for v in self.repeats.get(index, ()))
        _put(out, "z", self.timezones)
        _put(out, "k", self.key)
        out.extend(f"{kind}={v}" for kind, v in self.extra_lines)
        _put_attributes(out, self.attributes)
        for m in self.media:
            port = m.port if m.port_count is None else f"{m.port}/{m.port_count}"
            out.append(" ".join([f"m={m.media}", str(port), m.proto, *m.formats]))
            _put(out, "i", m.info)
            _put(out, "c", m.connection)
            out.extend(f"c={c}" for c in m.extra_connections)
            out.extend(f"b={v}" for v in m.bandwidth)
            _put(out, "k", m.key)
            out.extend(f"{kind}={v}" for kind, v in m.extra_lines)
            _put_attributes(out, m.attributes)
        out.append("")
        # surrogateescape gives back any non-UTF-8 bytes parse_sdp let through.
        return "\r\n".join(out).encode("utf-8", "surrogateescape")


def _put(out: list[str], kind: str, value: object) -> None:
    if value is not None:
        out.append(f"{kind}={value}")


def _put_attributes(out: list[str], attributes: list[Attribute]) -> None:
    for name, value in attributes:
        out.append(f"a={name}" if value is None else f"a={name}:{value}")


# ---------------------------------------------------------------------------------------
# Parser

_SESSION_ONCE = {"i": "info", "u": "uri", "z": "timezones", "k": "key"}


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises SdpError (with line number and text) on bad input."""
    if isinstance(data, bytes | bytearray | memoryview):
        text = bytes(data).decode("utf-8", "surrogateescape")
    elif isinstance(data, str):
        text = data
    else:
        raise SdpError(f"SDP must be bytes or str, not {type(data).__name__}")
    return _Parser().run(text)


class _Parser:
    def __init__(self) -> None:
        self.sdp: SessionDescription | None = None
        self.media: MediaDescription | None = None
        self.seen: set[str] = set()  # session-level once-only line types

    def run(self, text: str) -> SessionDescription:
        for line_no, raw in enumerate(text.split("\n"), 1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line.strip():
                continue  # blank lines, e.g. after the final CRLF
            if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
                raise SdpError("expected <type>=<value>", line_no, line)
            kind = line[0]
            # s= may legitimately be a single space (RFC 4566 §5.3), so keep it whole.
            value = line[2:] if kind == "s" else line[2:].rstrip(" \t")
            try:
                self.line(kind, value)
            except SdpError as exc:
                if exc.line_no is not None:
                    raise
                raise SdpError(str(exc), line_no, line) from None
        if self.sdp is None:
            raise SdpError("empty SDP")
        if "o" not in self.seen:
            raise SdpError("missing o= line")
        if not self.sdp.times:
            self.sdp.times = ["0 0"]  # t= is mandatory; a missing one means "permanent"
        return self.sdp

    def line(self, kind: str, value: str) -> None:
        if self.sdp is None:
            if kind != "v":
                raise SdpError("SDP must start with v=")
            version = _small_int(value)
            if version is None:
                raise SdpError("bad version")
            self.seen.add("v")
            self.sdp = SessionDescription(version=version, times=[])
            return
        if kind == "m":
            self.media = _parse_media(value)
            self.sdp.media.append(self.media)
        elif self.media is not None:
            self.media_line(self.media, kind, value)
        else:
            self.session_line(self.sdp, kind, value)

    def session_line(self, sdp: SessionDescription, kind: str, value: str) -> None:
        if kind in "vosiuzkc":
            if kind in self.seen:
                raise SdpError(f"duplicate {kind}= line")
            self.seen.add(kind)
        if kind == "a":
            sdp.attributes.append(_parse_attribute(value))
        elif kind == "o":
            sdp.origin = _parse_origin(value)
        elif kind == "s":
            sdp.session_name = value
        elif kind == "c":
            sdp.connection = _parse_connection(value)
        elif kind == "t":
            sdp.times.append(value)
        elif kind == "r":
            if not sdp.times:
                raise SdpError("r= before any t=")
            sdp.repeats.setdefault(len(sdp.times) - 1, []).append(value)
        elif kind == "b":
            sdp.bandwidth.append(value)
        elif kind == "e":
            sdp.emails.append(value)
        elif kind == "p":
            sdp.phones.append(value)
        elif kind in _SESSION_ONCE:
            setattr(sdp, _SESSION_ONCE[kind], value)
        else:  # includes a second v=, which `seen` already rejected
            sdp.extra_lines.append((kind, value))

    @staticmethod
    def media_line(media: MediaDescription, kind: str, value: str) -> None:
        if kind == "a":
            media.attributes.append(_parse_attribute(value))
        elif kind == "c":
            if media.connection is None:
                media.connection = _parse_connection(value)
            else:
                media.extra_connections.append(_parse_connection(value))
        elif kind == "b":
            media.bandwidth.append(value)
        elif kind in "ik":
            name = "info" if kind == "i" else "key"
            if getattr(media, name) is not None:
                raise SdpError(f"duplicate {kind}= line")
            setattr(media, name, value)
        else:
            media.extra_lines.append((kind, value))


def _parse_attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    if not name:
        raise SdpError("empty attribute name")
    return (name, rest if sep else None)


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("o= needs 6 fields")
    return Origin(*parts)


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError("c= needs 3 fields")
    return Connection(*parts)


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError("m= needs media, port and proto")
    port_text, sep, count_text = parts[1].partition("/")
    port = _small_int(port_text, 5)
    if port is None or port > 65535:
        raise SdpError("bad port")
    count = _small_int(count_text) if sep else None
    if sep and count is None:
        raise SdpError("bad port count")
    return MediaDescription(
        media=parts[0], port=port, proto=parts[2], formats=parts[3:], port_count=count
    )
