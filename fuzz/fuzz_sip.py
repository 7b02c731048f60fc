"""Fuzz target: the SIP path a datagram from the network takes before any app sees it.

parse_message -> typed views -> check_request -> transaction key -> response building,
plus TCP framing, digest verification and session-timer negotiation on the parsed
headers. SipParseError and other ValueErrors are the parser's way to say "bad input";
anything else escaping is a crash. FUZZ_STRICT=1 narrows that to SipParseError, which is
what the message layer promises (see sems_lite/sip/message.py).

    python fuzz/fuzz_sip.py -max_total_time=60 fuzz/corpus/sip     (atheris)
    python fuzz/fuzz_sip.py --smoke 20000 fuzz/corpus/sip          (no atheris)
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # fuzz/ is not a package: imported from its folder

with _harness.instrumented(__name__):
    from sems_lite.sip.auth import DigestAuthenticator
    from sems_lite.sip.errors import SipParseError
    from sems_lite.sip.message import Request, frame_stream, parse_message
    from sems_lite.sip.replies import make_response
    from sems_lite.sip.session_timer import SessionTimer
    from sems_lite.sip.transaction import server_key
    from sems_lite.sip.validate import check_request

ALLOWED: tuple[type[BaseException], ...] = (
    (SipParseError,) if os.environ.get("FUZZ_STRICT") == "1" else (ValueError,)
)
_VIEWS = (
    "call_id",
    "cseq",
    "vias",
    "top_via",
    "from_addr",
    "to_addr",
    "contacts",
    "contact_wildcard",
    "content_type",
    "max_forwards",
)
_AUTH = DigestAuthenticator("fuzz", {"alice": "secret"}, secret=b"k" * 32, clock=lambda: 0.0)


def _frame(data: bytes) -> None:
    buffer = bytearray(data)
    try:
        for _ in range(64):  # a buffer yields at most len/4 messages; 64 is plenty
            if frame_stream(buffer, max_size=4096) is None:
                break
    except ALLOWED:
        pass


def _views(msg: object) -> None:
    for view in _VIEWS:
        try:
            value = getattr(msg, view)
            str(value)  # the UA formats these into responses and logs
        except ALLOWED:
            pass


def _reply(req: Request, status: int) -> None:
    # Mirrors ua._answer_parse_error: make_response on whatever was read, then serialize.
    with contextlib.suppress(ValueError, IndexError):
        make_response(req, status, to_tag="fz").serialize()


def test_one_input(data: bytes) -> None:
    _frame(data)
    try:
        msg = parse_message(data)
    except ALLOWED as exc:
        partial = getattr(exc, "partial", None)
        if isinstance(partial, Request):
            _views(partial)
            _reply(partial, getattr(exc, "status", 400))
        return
    _views(msg)
    msg.serialize()
    if not isinstance(msg, Request):
        return
    # Same order as UserAgent._on_request: the transaction key comes before validation.
    try:
        server_key(msg)
    except ALLOWED:
        # No transaction can be formed: the UA answers once, statelessly, unguarded.
        try:
            rejection = check_request(msg)
        except ALLOWED:
            return
        make_response(msg, rejection.status if rejection else 400).serialize()
        return
    try:
        rejection = check_request(msg, supported=("timer",))
    except ALLOWED:
        return
    _reply(msg, rejection.status if rejection else 200)
    if rejection is not None:
        return
    # These two must never raise at all: they answer with a result, not an exception.
    _AUTH.verify(msg.method, msg.headers.get("Authorization"))
    SessionTimer.negotiate(msg.headers)


if __name__ == "__main__":
    _harness.main(test_one_input, "sip", _harness.HERE / "corpus" / "sip")
