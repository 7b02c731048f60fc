"""RFC 4028 session timers for the UAS side of a dialog, sans-IO.

Rules kept here:
- Headers and times in; response headers, deadlines and decisions out. No clock, no timer:
  the UA asks `next_deadline(now)` and arms its own timer.
- `refresher` is always seen from the initial INVITE: 'uas' means the box refreshes,
  'uac' means the peer does. (On the wire the parameter names the UAC/UAS of each
  refresh transaction, so it flips for refreshes the box sends: handled here.)
- Table 2 of RFC 4028 §9: a UAC that does not support 'timer' cannot refresh, so the box
  does; a refresher named in the request is kept; otherwise `prefer` decides.
- A Session-Expires below our Min-SE is refused with 422 carrying our Min-SE; otherwise
  the interval may be lowered towards ours but never below the request's Min-SE and never
  raised above the request's Session-Expires (§9).
- The box always runs a timer, even when the UAC asked for none, so that a peer that
  died without BYE is detected (§9 lets the UAS insert Session-Expires itself).
- Whoever refreshes does so at half the interval; the other side gives up (BYE) at
  interval - min(32, interval / 3) after the last refresh (§10).
"""

from __future__ import annotations

import re

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import Headers, parse_params
from sems_lite.sip.validate import Rejection

__all__ = ["ABSOLUTE_MIN_SE", "SessionTimer", "parse_delta"]

ABSOLUTE_MIN_SE = 90  # RFC 4028 §4: no session interval may be shorter
_DELTA = re.compile(r"[ \t]*([0-9]+)[ \t]*")
_MAX_DELTA = 0xFFFFFFFF  # longer values are clamped, never turned into huge ints
_MAX_ASK = 86400
TOO_SMALL = "Session Interval Too Small"


def parse_delta(value: str) -> tuple[int, dict[str, str | None]]:
    """(delta-seconds, params) of a Session-Expires or Min-SE value; SipParseError if bad."""
    head, semi, rest = value.partition(";")
    match = _DELTA.fullmatch(head)
    if match is None:
        raise SipParseError("Malformed delta-seconds")
    digits = match.group(1).lstrip("0") or "0"
    seconds = int(digits) if len(digits) <= 10 else _MAX_DELTA
    params = parse_params(semi + rest) if semi else {}
    return min(seconds, _MAX_DELTA), params


def _supports_timer(headers: Headers) -> bool:
    tags = headers.get_all("Supported") + headers.get_all("Require")
    return any(tag.lower() == "timer" for tag in tags)


def _header_delta(headers: Headers, name: str) -> tuple[int, dict[str, str | None]] | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return parse_delta(value)
    except SipParseError:
        raise SipParseError(f"Malformed {name} header") from None


class SessionTimer:
    """One dialog's session timer, from the box's (UAS) point of view."""

    __slots__ = (
        "_ask",
        "_base",
        "_refreshing",
        "interval",
        "min_se",
        "prefer",
        "refresher",
        "response_headers",
        "session_expires",
    )

    def __init__(
        self,
        interval: int,
        refresher: str,
        response_headers: list[tuple[str, str]],
        *,
        session_expires: int = 1800,
        min_se: int = ABSOLUTE_MIN_SE,
        prefer: str = "uac",
    ) -> None:
        self.interval = interval
        self.refresher = refresher
        self.response_headers = response_headers
        self.session_expires = session_expires
        self.min_se = min_se
        self.prefer = prefer
        self._base: float | None = None  # time of the last refresh; None until armed
        self._refreshing = False  # the box sent a refresh and awaits its answer
        self._ask = interval  # what the box's next refresh asks for (raised by a 422)

    @classmethod
    def negotiate(
        cls,
        headers: Headers,
        *,
        session_expires: int = 1800,
        min_se: int = ABSOLUTE_MIN_SE,
        prefer: str = "uac",
    ) -> SessionTimer | Rejection:
        """Decide the session timer for an INVITE (or a refresh): a timer or a 422/400.

        `prefer` is who should refresh when the UAC supports timers and leaves the
        choice to us: 'uac' (the peer; the box only watches) or 'uas' (the box).
        """
        if min_se < ABSOLUTE_MIN_SE or session_expires < min_se:
            raise ValueError("need 90 <= min_se <= session_expires")
        if prefer not in ("uac", "uas"):
            raise ValueError("prefer must be 'uac' or 'uas'")
        decided = _decide(headers, session_expires, min_se, prefer)
        if isinstance(decided, Rejection):
            return decided
        interval, refresher, response_headers = decided
        return cls(
            interval,
            refresher,
            response_headers,
            session_expires=session_expires,
            min_se=min_se,
            prefer=prefer,
        )

    def next_deadline(self, now: float) -> tuple[float, str]:
        """(when, 'refresh'|'expire'): send a refresh, or send BYE, at that time.

        The first call arms the timer (call it when the 2xx goes out).
        """
        if self._base is None:
            self._base = now
        if self.refresher == "uas" and not self._refreshing:
            return self._base + self.interval / 2, "refresh"
        return self._base + self.interval - min(32.0, self.interval / 3), "expire"

    def refreshed(self, headers: Headers, now: float) -> Rejection | None:
        """An in-dialog re-INVITE/UPDATE arrived: renegotiate and restart the timer.

        Returns the Rejection to send instead (422 or 400: the old timer keeps running),
        or None after which `response_headers` are the ones for its 2xx.
        """
        decided = _decide(headers, self.session_expires, self.min_se, self.prefer)
        if isinstance(decided, Rejection):
            return decided
        self.interval, self.refresher, self.response_headers = decided
        self._ask = self.interval
        self._base = now
        self._refreshing = False
        return None

    def request_headers(self) -> list[tuple[str, str]]:
        """Headers for a refresh the box sends (with 'timer' in Supported, added by the UA)."""
        # In our own request the box is the UAC of the transaction.
        return [
            ("Session-Expires", f"{self._ask};refresher=uac"),
            ("Min-SE", str(self.min_se)),
        ]

    def refresh_sent(self, now: float) -> None:
        """The box sent its refresh: from now on the deadline is the expiry."""
        if self._base is None:
            self._base = now
        self._refreshing = True

    def refresh_answered(self, status: int, headers: Headers, now: float) -> str:
        """The final answer to the box's refresh; returns what the UA should do.

        'ok': timer restarted; 'retry': send the refresh again now, asking for the
        peer's Min-SE (422); 'bye': end the call (408, 481: §10); 'wait': nothing renewed,
        the expiry deadline of the interval in force stands.
        """
        if 200 <= status < 300:
            try:
                found = _header_delta(headers, "Session-Expires")
            except SipParseError:
                found = None
            if found is not None and found[0] >= ABSOLUTE_MIN_SE:
                seconds, params = found
                self.interval = seconds
                # The answering peer is the UAS of this transaction.
                who = (params.get("refresher") or "").lower()
                self.refresher = "uac" if who == "uas" else "uas"
            else:  # a peer without timers: the box goes on refreshing at its own pace
                self.interval = self._ask
            self._ask = self.interval
            self._base = now
            self._refreshing = False
            return "ok"
        if status == 422:
            try:
                found = _header_delta(headers, "Min-SE")
            except SipParseError:
                found = None
            # Only a larger ask can succeed; a day is beyond any sane Min-SE.
            if found is not None and self._ask < found[0] <= _MAX_ASK:
                self._ask = found[0]
                return "retry"
            return "wait"
        if status in (408, 481):
            return "bye"
        return "wait"


def _decide(
    headers: Headers, our_se: int, our_min: int, prefer: str
) -> tuple[int, str, list[tuple[str, str]]] | Rejection:
    try:
        requested = _header_delta(headers, "Session-Expires")
        their_min = _header_delta(headers, "Min-SE")
    except SipParseError as exc:
        return Rejection(400, exc.reason)
    supported = _supports_timer(headers)
    floor = max(our_min, their_min[0] if their_min else ABSOLUTE_MIN_SE)
    if requested is None:
        interval = max(our_se, floor)
        asked = None
    else:
        seconds, params = requested
        if seconds < our_min:
            return Rejection(422, TOO_SMALL, [("Min-SE", str(our_min))])
        # Lower towards our preference, never below their floor, never above their ask.
        interval = min(seconds, max(our_se, floor))
        asked = (params.get("refresher") or "").lower()
    if not supported:
        refresher = "uas"  # RFC 4028 Table 2: the UAC cannot refresh
    elif asked in ("uac", "uas"):
        refresher = asked
    else:
        refresher = prefer
    response = [("Session-Expires", f"{interval};refresher={refresher}")]
    if supported:
        response.append(("Require", "timer"))
    return interval, refresher, response
