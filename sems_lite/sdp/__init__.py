"""SDP: session description model, parse/serialize (RFC 4566) and offer/answer (RFC 3264)."""

from sems_lite.sdp.model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    parse_sdp,
)
from sems_lite.sdp.offer_answer import (
    DEFAULT_CODECS,
    CodecSpec,
    NegotiatedStream,
    NotAcceptable,
    make_answer,
    make_offer,
    process_answer,
)

__all__ = [
    "DEFAULT_CODECS",
    "Attribute",
    "CodecSpec",
    "Connection",
    "MediaDescription",
    "NegotiatedStream",
    "NotAcceptable",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "make_answer",
    "make_offer",
    "parse_sdp",
    "process_answer",
]
