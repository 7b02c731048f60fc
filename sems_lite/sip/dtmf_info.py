"""DTMF carried in SIP INFO bodies: 'application/dtmf-relay' and 'application/dtmf'.

Rules kept here (no RFC defines these bodies; this follows what phones send):
- dtmf-relay is "key=value" lines, CRLF or LF, keys case-insensitive, spaces and tabs
  around '=' and the value ignored; unknown keys ignored; the first Signal counts.
- Signal is one of 0-9 * # A-D (a-d too), or a two-digit event code as some phones send
  it ('10' is '*', '11' is '#', RFC 4733 §3.2 numbering). Anything else: no digit (None).
- Duration is in milliseconds; absent or not a plain number means 250.
- application/dtmf is the digit alone; a body in dtmf-relay form is accepted there too.
- Bad bodies give None, never an exception.
"""

from __future__ import annotations

from sems_lite.rtp.dtmf import EVENTS

__all__ = ["DEFAULT_DURATION_MS", "parse_dtmf_body", "parse_dtmf_relay"]

DEFAULT_DURATION_MS = 250

_RELAY = "application/dtmf-relay"
_DTMF = "application/dtmf"


def _digit(value: str) -> str | None:
    value = value.strip().upper()
    if len(value) == 1:
        return value if value in EVENTS else None
    if value.isascii() and value.isdigit() and len(value) <= 2 and int(value) < len(EVENTS):
        return EVENTS[int(value)]  # an event code: '10' -> '*', '05' -> '5'
    return None


def parse_dtmf_relay(body: bytes) -> tuple[str, int] | None:
    """(digit, duration_ms) from an application/dtmf-relay body, or None without a Signal."""
    digit: str | None = None
    duration = DEFAULT_DURATION_MS
    seen_signal = seen_duration = False
    for line in body.decode("latin-1").splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "signal" and not seen_signal:
            seen_signal = True
            digit = _digit(value)
        elif key == "duration" and not seen_duration:
            seen_duration = True
            value = value.strip()
            # isascii: int() would also take other scripts' digits and '_' separators.
            if value.isascii() and value.isdigit():
                duration = int(value)
    if digit is None:
        return None
    return digit, duration


def parse_dtmf_body(content_type: str, body: bytes) -> tuple[str, int] | None:
    """Pick the parser by Content-Type (parameters and case ignored); None for other types."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == _RELAY:
        return parse_dtmf_relay(body)
    if media_type == _DTMF:
        digit = _digit(body.decode("latin-1"))
        if digit is not None:
            return digit, DEFAULT_DURATION_MS
        return parse_dtmf_relay(body)
    return None
