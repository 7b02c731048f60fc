"""SDP offer/answer (RFC 3264) for one audio stream.

Rules this module keeps:
- Pure functions: SessionDescriptions in, SessionDescription / NegotiatedStream out.
- The first audio m-line with a codec in common is used; every other m-line is
  answered with port 0 and its formats kept (RFC 3264 §6).
- Codec choice follows the offerer's preference order (RFC 3264 §6.1 allows
  either side's); codecs match on encoding name (case-blind), clock rate and
  channels, and the offerer's payload type numbers are reused.
- RFC 4733 telephone-event rides along only at the chosen codec's clock rate.
- Directions are always written explicitly in what we produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sems_lite.sdp.model import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)

__all__ = [
    "DEFAULT_CODECS",
    "SUPPORTED_PROTOS",
    "CodecSpec",
    "NegotiatedStream",
    "NotAcceptable",
    "make_answer",
    "make_offer",
    "process_answer",
]

TELEPHONE_EVENT = "telephone-event"
DEFAULT_PTIME = 20
# AVPF only adds optional RTCP feedback that we may ignore; SAVP needs crypto we lack.
SUPPORTED_PROTOS = frozenset({"RTP/AVP", "RTP/AVPF"})
_FIRST_DYNAMIC_PT = 96
_TELEPHONE_EVENT_PT = 101  # not a standard, but what nearly every phone uses

# direction -> (we/they send, we/they receive), from the describing side's view
_FLAGS = {
    "sendrecv": (True, True),
    "sendonly": (True, False),
    "recvonly": (False, True),
    "inactive": (False, False),
}
_NAMES = {flags: name for name, flags in _FLAGS.items()}


@dataclass(frozen=True)
class CodecSpec:
    """A codec the box can handle; a list of them is given in preference order."""

    name: str  # 'PCMU', 'PCMA', 'telephone-event', 'L16'
    clock_rate: int
    static_pt: int | None  # 0 for PCMU, 8 for PCMA, None for dynamic ones
    channels: int = 1
    fmtp: str | None = None  # e.g. '0-16' for telephone-event

    @property
    def is_telephone_event(self) -> bool:
        return self.name.lower() == TELEPHONE_EVENT

    def matches(self, rtpmap: RtpMap) -> bool:
        return rtpmap.matches(self.name, self.clock_rate, self.channels)

    def rtpmap(self, payload_type: int) -> RtpMap:
        return RtpMap(payload_type, self.name, self.clock_rate, self.channels)


DEFAULT_CODECS: tuple[CodecSpec, ...] = (
    CodecSpec("PCMU", 8000, 0),
    CodecSpec("PCMA", 8000, 8),
    CodecSpec(TELEPHONE_EVENT, 8000, None, fmtp="0-16"),
)


@dataclass
class NegotiatedStream:
    """What the media layer needs to run the negotiated audio stream."""

    remote_address: str | None  # None when the peer gave 0.0.0.0 (hold) or no address
    remote_port: int
    payload_type: int  # PT to send the codec with (the offerer's numbers)
    codec: CodecSpec  # our spec of the chosen codec
    telephone_event_pt: int | None  # RFC 4733 PT at the codec's clock rate, if both have it
    ptime: int  # ms
    direction: str  # OUR direction: sendrecv, sendonly, recvonly or inactive
    rtcp_mux: bool
    media_index: int = 0  # which m-line carries the stream


class NotAcceptable(Exception):
    """No usable audio stream: the server answers 488 Not Acceptable Here."""


@dataclass
class _Choice:
    payload_type: int
    codec: CodecSpec
    event_pt: int | None
    event_codec: CodecSpec | None


def _choose(
    formats: Sequence[str],
    maps: dict[int, RtpMap],
    local_codecs: Sequence[CodecSpec],
    allowed: dict[int, RtpMap] | None = None,
) -> _Choice | None:
    """First format (in m= order) that a local codec handles, plus telephone-event.

    `allowed`, when given, further restricts to codecs present in that map (our own
    offer, when checking an answer).
    """
    order = [maps[pt] for pt in (_pt(f) for f in formats) if pt in maps]
    for rtpmap in order:
        if rtpmap.encoding.lower() == TELEPHONE_EVENT:
            continue
        codec = _local_match(rtpmap, local_codecs, want_event=False)
        if codec is None or (allowed is not None and not _in_map(codec, allowed)):
            continue
        for event in order:
            if event.encoding.lower() != TELEPHONE_EVENT or event.clock_rate != codec.clock_rate:
                continue
            event_codec = _local_match(event, local_codecs, want_event=True)
            if event_codec is not None and (allowed is None or _in_map(event_codec, allowed)):
                return _Choice(rtpmap.payload_type, codec, event.payload_type, event_codec)
        return _Choice(rtpmap.payload_type, codec, None, None)
    return None


def _pt(fmt: str) -> int | None:
    return int(fmt) if fmt.isascii() and fmt.isdigit() and len(fmt) <= 3 else None


def _local_match(
    rtpmap: RtpMap, local_codecs: Sequence[CodecSpec], *, want_event: bool
) -> CodecSpec | None:
    for codec in local_codecs:
        if codec.is_telephone_event == want_event and codec.matches(rtpmap):
            return codec
    return None


def _in_map(codec: CodecSpec, maps: dict[int, RtpMap]) -> bool:
    return any(codec.matches(rtpmap) for rtpmap in maps.values())


def _flags(direction: str) -> tuple[bool, bool]:
    return _FLAGS.get(direction, (True, True))


def _remote_address(connection: Connection | None) -> str | None:
    if connection is None or connection.is_null:
        return None
    return connection.host


def _audio_attributes(choice: _Choice) -> list[tuple[str, str | None]]:
    attrs: list[tuple[str, str | None]] = [
        ("rtpmap", str(choice.codec.rtpmap(choice.payload_type)))
    ]
    if choice.codec.fmtp:
        attrs.append(("fmtp", f"{choice.payload_type} {choice.codec.fmtp}"))
    if choice.event_pt is not None and choice.event_codec is not None:
        attrs.append(("rtpmap", str(choice.event_codec.rtpmap(choice.event_pt))))
        if choice.event_codec.fmtp:
            attrs.append(("fmtp", f"{choice.event_pt} {choice.event_codec.fmtp}"))
    return attrs


def _session(
    local_address: str, session_id: str, session_version: int, media: list[MediaDescription]
) -> SessionDescription:
    connection = Connection.for_address(local_address)
    return SessionDescription(
        origin=Origin(
            "-", str(session_id), str(session_version), "IN", connection.addr_type, local_address
        ),
        session_name="-",
        connection=connection,
        times=["0 0"],
        media=media,
    )


def make_answer(
    offer: SessionDescription,
    local_codecs: Sequence[CodecSpec],
    *,
    local_address: str,
    local_port: int,
    session_id: str,
    session_version: int,
    ptime: int = DEFAULT_PTIME,
    accept_rtcp_mux: bool = True,
) -> tuple[SessionDescription, NegotiatedStream]:
    """Answer `offer`; raises NotAcceptable if no audio m-line has a codec in common."""
    stream: NegotiatedStream | None = None
    answer_media: list[MediaDescription] = []
    for index, offered in enumerate(offer.media):
        choice = None
        if stream is None and _usable_audio(offered):
            choice = _choose(offered.formats, offered.rtpmaps(), local_codecs)
        if choice is None:
            # Rejected (RFC 3264 §6): port 0, formats kept so the line still parses.
            answer_media.append(
                MediaDescription(offered.media, 0, offered.proto, list(offered.formats))
            )
            continue
        remote = _remote_address(offer.media_connection(index))
        their_send, their_recv = _flags(offer.media_direction(index))
        if remote is None:
            their_recv = False  # 0.0.0.0 is RFC 2543 hold: nowhere for us to send
        direction = _NAMES[(their_recv, their_send)]
        rtcp_mux = offered.rtcp_mux and accept_rtcp_mux
        formats = [str(choice.payload_type)]
        if choice.event_pt is not None:
            formats.append(str(choice.event_pt))
        attrs = _audio_attributes(choice)
        if offered.ptime is not None:
            attrs.append(("ptime", str(offered.ptime)))
        if rtcp_mux:
            attrs.append(("rtcp-mux", None))
        attrs.append((direction, None))
        answer_media.append(
            MediaDescription(offered.media, local_port, offered.proto, formats, attributes=attrs)
        )
        stream = NegotiatedStream(
            remote_address=remote,
            remote_port=offered.port,
            payload_type=choice.payload_type,
            codec=choice.codec,
            telephone_event_pt=choice.event_pt,
            ptime=offered.ptime or ptime,
            direction=direction,
            rtcp_mux=rtcp_mux,
            media_index=index,
        )
    if stream is None:
        raise NotAcceptable("no audio stream with a codec in common")
    return _session(local_address, session_id, session_version, answer_media), stream


def _usable_audio(media: MediaDescription) -> bool:
    return (
        media.media.lower() == "audio"
        and media.port != 0
        and media.proto.upper() in SUPPORTED_PROTOS
    )


def _assign_payload_types(local_codecs: Sequence[CodecSpec]) -> list[int]:
    """PTs for an offer: static ones as given, telephone-event at 101, others from 96."""
    pts: list[int | None] = [c.static_pt for c in local_codecs]
    used = {pt for pt in pts if pt is not None}
    for i, codec in enumerate(local_codecs):
        if pts[i] is None and codec.is_telephone_event and _TELEPHONE_EVENT_PT not in used:
            pts[i] = _TELEPHONE_EVENT_PT
            used.add(_TELEPHONE_EVENT_PT)
    free = (pt for pt in range(_FIRST_DYNAMIC_PT, 128) if pt not in used)
    result = []
    for pt in pts:
        if pt is None:
            pt = next(free, None)
            if pt is None:
                raise ValueError("more dynamic codecs than dynamic payload types")
        result.append(pt)
    return result


def make_offer(
    local_codecs: Sequence[CodecSpec],
    *,
    local_address: str,
    local_port: int,
    session_id: str,
    session_version: int,
    ptime: int = DEFAULT_PTIME,
    direction: str = "sendrecv",
) -> SessionDescription:
    """An offer with one audio m-line listing `local_codecs` in order (late offer)."""
    if direction not in _FLAGS:
        raise ValueError(f"unknown direction {direction!r}")
    if not local_codecs:
        raise ValueError("no codecs to offer")
    pts = _assign_payload_types(local_codecs)
    attrs: list[tuple[str, str | None]] = []
    for pt, codec in zip(pts, local_codecs, strict=True):
        attrs.append(("rtpmap", str(codec.rtpmap(pt))))
        if codec.fmtp:
            attrs.append(("fmtp", f"{pt} {codec.fmtp}"))
    attrs.append(("ptime", str(ptime)))
    attrs.append((direction, None))
    media = MediaDescription(
        "audio", local_port, "RTP/AVP", [str(pt) for pt in pts], attributes=attrs
    )
    return _session(local_address, session_id, session_version, [media])


def process_answer(
    offer: SessionDescription, answer: SessionDescription, local_codecs: Sequence[CodecSpec]
) -> NegotiatedStream:
    """The stream our `offer` and the peer's `answer` agree on; raises NotAcceptable."""
    index = next((i for i, m in enumerate(offer.media) if _usable_audio(m)), None)
    if index is None:
        raise NotAcceptable("our offer has no audio stream")
    if index >= len(answer.media):
        raise NotAcceptable("answer lacks the audio m-line")
    offered, answered = offer.media[index], answer.media[index]
    if answered.port == 0 or answered.media.lower() != offered.media.lower():
        raise NotAcceptable("answer rejected the audio stream")
    offered_maps = offered.rtpmaps()
    # An answer may list dynamic PTs without rtpmap, leaning on the offer's mapping.
    maps = {**offered_maps, **answered.rtpmaps()}
    choice = _choose(answered.formats, maps, local_codecs, allowed=offered_maps)
    if choice is None:
        raise NotAcceptable("answer selects no codec we offered")
    remote = _remote_address(answer.media_connection(index))
    our_send, our_recv = _flags(offer.media_direction(index))
    their_send, their_recv = _flags(answer.media_direction(index))
    if remote is None:
        their_recv = False
    return NegotiatedStream(
        remote_address=remote,
        remote_port=answered.port,
        payload_type=choice.payload_type,
        codec=choice.codec,
        telephone_event_pt=choice.event_pt,
        ptime=answered.ptime or offered.ptime or DEFAULT_PTIME,
        direction=_NAMES[(our_send and their_recv, our_recv and their_send)],
        rtcp_mux=answered.rtcp_mux and offered.rtcp_mux,
        media_index=index,
    )
