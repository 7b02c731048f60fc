"""The Call: what an app sees of one SIP session (never a socket).

An app gets `on_invite(call)` for a new INVITE and must `answer()`, `ring()`/`progress()`
or `reject()`; it may then set `call.source`/`call.sink` (where audio goes to and comes
from), set timers, and `hangup()`. It hears `on_start(call)` when the ACK arrives,
`on_hold(call, held)` when the peer puts the call on hold or takes it off, and
`on_end(call, reason)` once, whatever ended the call.

The SIP details of the session (offer/answer, re-INVITE, 2xx retransmission, BYE) live
here and in the UA; the app code stays small.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from sems_lite import randomness
from sems_lite.core.loop import TimerHandle
from sems_lite.media.player import FilePlayer, Playlist
from sems_lite.media.recorder import Recorder
from sems_lite.sdp.model import SdpError, SessionDescription, parse_sdp
from sems_lite.sdp.offer_answer import (
    NegotiatedStream,
    NotAcceptable,
    make_answer,
    make_offer,
    process_answer,
)
from sems_lite.sip.dialog import Dialog
from sems_lite.sip.message import Request, Response
from sems_lite.sip.replies import make_response
from sems_lite.sip.transaction import InviteServerTransaction, NonInviteServerTransaction
from sems_lite.sip.validate import Rejection

if TYPE_CHECKING:
    from sems_lite.dialout import Dialer
    from sems_lite.rtp.stream import AudioSink, AudioSource, RtpStream
    from sems_lite.session_refresh import SessionRefresh
    from sems_lite.ua import UserAgent

log = logging.getLogger("sems_lite.call")


class CallState(Enum):
    INCOMING = "incoming"  # INVITE received, no final answer yet
    DIALING = "dialing"  # our INVITE sent (dial-out), no final answer yet
    ANSWERED = "answered"  # 200 sent, waiting for the ACK
    CONFIRMED = "confirmed"  # ACK received
    ENDING = "ending"  # BYE sent, waiting for its answer
    ENDED = "ended"


class SessionError(Exception):
    """An SDP problem that decides the final response code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Call:
    __slots__ = (
        "_pending_offer",
        "_timers",
        "app",
        "app_name",
        "dead_rtp_timeout",
        "dialer",
        "dialog",
        "end_reason",
        "final_status",
        "held",
        "id",
        "invite",
        "invite_txn",
        "local_sdp",
        "media_host",
        "media_on",
        "negotiated",
        "peer",
        "reinvite_txn",
        "sdp_session_id",
        "sdp_version",
        "session_refresh",
        "started_at",
        "state",
        "stream",
        "ua",
    )

    def __init__(
        self,
        ua: UserAgent,
        invite: Request,
        txn: InviteServerTransaction,
        dialog: Dialog,
        stream: RtpStream,
        media_host: str,
        app_name: str,
        app: Any,
    ) -> None:
        self.ua = ua
        self.id = randomness.token_hex(4)
        self.invite = invite
        self.invite_txn: InviteServerTransaction | None = txn
        self.reinvite_txn: InviteServerTransaction | None = None
        self.dialog = dialog
        self.stream = stream
        self.media_host = media_host
        self.app_name = app_name
        self.app = app
        self.peer = None
        self.state = CallState.INCOMING
        self.negotiated: NegotiatedStream | None = None
        self.local_sdp: bytes = b""
        self.sdp_session_id = str(randomness.randbits(31))
        self.sdp_version = 1
        self._pending_offer: SessionDescription | None = None  # our offer awaiting an answer
        self.dead_rtp_timeout: float | None = ua.config.rtp.dead_rtp_timeout or None
        self.held = False
        self.started_at = 0.0
        self.end_reason = ""
        self._timers: list[TimerHandle] = []
        self.media_on = False
        self.final_status = 0  # the final response code we sent to the INVITE
        self.session_refresh: SessionRefresh | None = None  # RFC 4028, set by the UA
        self.dialer: Dialer | None = None  # set for calls the box places (dial-out)
        stream.on_dtmf = self._on_dtmf

    # -- what apps use ---------------------------------------------------------------------
    @property
    def ruri(self) -> Any:
        return self.invite.uri

    @property
    def from_addr(self) -> Any:
        return self.invite.from_addr

    @property
    def to_addr(self) -> Any:
        return self.invite.to_addr

    @property
    def headers(self) -> Any:
        return self.invite.headers

    @property
    def source(self) -> AudioSource | None:
        return self.stream.source

    @source.setter
    def source(self, value: AudioSource | None) -> None:
        self.stream.source = value

    @property
    def sink(self) -> AudioSink | None:
        return self.stream.sink

    @sink.setter
    def sink(self, value: AudioSink | None) -> None:
        self.stream.sink = value

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    def set_timer(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """A timer that is cancelled automatically when the call ends."""
        handle = self.ua.loop.call_later(delay, self._run_timer, callback, args)
        self._timers = [t for t in self._timers if not t.cancelled]
        self._timers.append(handle)
        return handle

    def _run_timer(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self.state is not CallState.ENDED:
            callback(*args)

    def ring(self) -> None:
        """180 Ringing (no early media)."""
        if self.state is CallState.INCOMING and self.invite_txn is not None:
            self._respond_invite(180)

    def answer(self) -> None:
        """200 OK with our SDP (an answer, or an offer if the INVITE had none)."""
        if self.state is not CallState.INCOMING or self.invite_txn is None:
            return
        if self.negotiated is None:
            self.make_offer()
        self._respond_invite(200, body=self.local_sdp)
        self.state = CallState.ANSWERED
        if self.session_refresh is not None:
            self.session_refresh.start()
        self.started_at = self.ua.loop.time()
        self.stream.last_rx = self.started_at
        self.ua.media_started(self)
        log.info("call %s: answered%s", self.id, self._codec_text())

    def reject(self, status: int, reason: str | None = None) -> None:
        if self.state is not CallState.INCOMING or self.invite_txn is None:
            return
        self._respond_invite(status, reason)
        self._finish(f"rejected with {status}")

    def hangup(self, reason: str = "hung up by the app") -> None:
        """End the call from our side: reject, or BYE once the dialog is confirmed."""
        if self.state is CallState.INCOMING:
            self.reject(480, "Temporarily Unavailable")
        elif self.state is CallState.DIALING and self.dialer is not None:
            self.end_reason = reason
            self.dialer.cancel()  # the call ends with the callee's 487
        elif self.state is CallState.ANSWERED:
            # A BYE before the ACK could overtake the 2xx; send it when the ACK arrives.
            self.end_reason = reason
            self.state = CallState.ENDING
        elif self.state is CallState.CONFIRMED:
            self._send_bye(reason)

    @property
    def rate(self) -> int:
        """The audio sample rate of the call (8000 until a codec is negotiated)."""
        return self.negotiated.codec.clock_rate if self.negotiated else 8000

    @property
    def media_tick(self) -> int:
        """The media engine's tick number: lets a room mix once per tick for everyone."""
        return self.ua.engine.tick_index

    def progress(self) -> None:
        """183 Session Progress with our SDP: media flows before the call is answered."""
        if self.state is not CallState.INCOMING or self.invite_txn is None:
            return
        if self.negotiated is None:
            return  # early media needs the caller's offer (no offer in a 183 here)
        self._respond_invite(183, body=self.local_sdp)
        self.ua.media_started(self)
        log.info("call %s: early media%s", self.id, self._codec_text())

    def play(
        self,
        *items: Any,
        loop: bool = False,
        barge_in: bool = False,
        on_finished: Callable[[], None] | None = None,
    ) -> Playlist:
        """Play files (paths) and playlist items in order; replaces the current source."""
        playlist = Playlist(loop=loop, barge_in=barge_in, on_finished=on_finished)
        for item in items:
            if isinstance(item, (str, os.PathLike)):
                item = FilePlayer(item, rate=self.rate)
            playlist.add(item)
        self.stream.source = playlist
        return playlist

    def record(self, path: str | os.PathLike[str], **options: Any) -> Recorder:
        """Record what the caller says into a WAV file (replaces the current sink).

        The file is valid after every flush, and closed when the call ends.
        """
        recorder = Recorder(path, rate=self.rate, **options)
        self._close_sink()
        self.stream.sink = recorder
        return recorder

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> bool:
        """Send a digit as RFC 4733 telephone-event; False if the peer cannot receive it."""
        return self.stream.send_dtmf(digit, duration_ms)

    def handover(self, app_name: str) -> None:
        """Give the call to another configured app, which gets `on_invite` (or `on_start`
        if the call is already up) as if it had been routed there."""
        app = self.ua.apps.instance(app_name)
        log.info("call %s: handed from %s to %s", self.id, self.app_name, app_name)
        self.app_name = app_name
        self.app = app
        self.stream.set_jitter_limits(
            getattr(app, "jitter_min_frames", 1), getattr(app, "jitter_max_frames", 10)
        )
        self.stream.want_inband_dtmf(callable(getattr(app, "on_dtmf", None)))
        hook = "on_invite" if self.state is CallState.INCOMING else "on_start"
        handler = getattr(app, hook, None)
        if handler is not None:
            handler(self)

    def _on_dtmf(self, digit: str, duration_ms: int) -> None:
        if self.state is CallState.ENDED:
            return
        log.info("call %s: DTMF %s (%d ms)", self.id, digit, duration_ms)
        barge = getattr(self.stream.source, "on_dtmf", None)
        if barge is not None:
            barge(digit)
        hook = getattr(self.app, "on_dtmf", None)
        if hook is not None:
            hook(self, digit, duration_ms)

    def dtmf_received(self, digit: str, duration_ms: int) -> None:
        """A digit from SIP INFO (application/dtmf-relay)."""
        self._on_dtmf(digit, duration_ms)

    def _close_sink(self) -> None:
        self._close(self.stream.sink, "sink")

    def _close(self, end: Any, what: str) -> None:
        close = getattr(end, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.exception("call %s: closing the %s failed", self.id, what)

    # -- driven by the UA ------------------------------------------------------------------
    def process_initial_offer(self) -> None:
        """Negotiate the INVITE's SDP (if any); raises SessionError for the final code."""
        offer = self._parse_body(self.invite)
        if offer is not None:
            self._answer_offer(offer)

    def _parse_body(self, req: Request) -> SessionDescription | None:
        if not req.body:
            return None
        content_type = req.content_type
        if content_type not in (None, "application/sdp"):
            raise SessionError(415, "Unsupported Media Type")
        try:
            return parse_sdp(req.body)
        except SdpError as exc:
            raise SessionError(400, f"Bad SDP: {exc}") from exc

    def _answer_offer(self, offer: SessionDescription) -> None:
        try:
            answer, negotiated = make_answer(
                offer,
                self.ua.local_codecs,
                local_address=self.media_host,
                local_port=self.stream.local_port,
                session_id=self.sdp_session_id,
                session_version=self.sdp_version,
                ptime=self.ua.config.rtp.ptime,
            )
        except NotAcceptable as exc:
            raise SessionError(488, "Not Acceptable Here") from exc
        self.sdp_version += 1
        self._apply(negotiated)
        self.local_sdp = answer.serialize()

    def make_offer(self) -> SessionDescription:
        """Our offer (a dial-out INVITE, or the 200 to an offerless INVITE), kept until the
        answer comes."""
        offer = self._make_offer()
        self._pending_offer = offer
        self.local_sdp = offer.serialize()
        return offer

    def _make_offer(self) -> SessionDescription:
        offer = make_offer(
            self.ua.local_codecs,
            local_address=self.media_host,
            local_port=self.stream.local_port,
            session_id=self.sdp_session_id,
            session_version=self.sdp_version,
            ptime=self.ua.config.rtp.ptime,
        )
        self.sdp_version += 1
        return offer

    def _apply(self, negotiated: NegotiatedStream) -> None:
        was_held = self.held
        self.negotiated = negotiated
        self.stream.configure(negotiated, self.ua.engine.ptime_ms)
        self.held = negotiated.direction != "sendrecv"
        if self.held != was_held and self.state is CallState.CONFIRMED:
            log.info("call %s: %s", self.id, "on hold" if self.held else "resumed")
            hook = getattr(self.app, "on_hold", None)
            if hook is not None:
                hook(self, self.held)

    def _codec_text(self) -> str:
        n = self.negotiated
        if n is None:
            return " (offer sent, waiting for the answer in the ACK)"
        return f" ({n.codec.name}/{n.codec.clock_rate}, {n.direction})"

    def _respond_invite(self, status: int, reason: str | None = None, body: bytes = b"") -> None:
        assert self.invite_txn is not None
        if status >= 200:
            self.final_status = status
        headers = [("Contact", self.dialog.local_contact)] if 100 < status < 300 else []
        if status == 200 and self.session_refresh is not None:
            headers += self.session_refresh.response_headers()
        headers += self.ua.server_headers()
        resp = make_response(
            self.invite,
            status,
            reason,
            to_tag=self.dialog.local_tag,
            headers=headers + (self.ua.allow_headers() if status == 200 else []),
            body=body,
            content_type="application/sdp" if body else None,
        )
        self.invite_txn.respond(resp)

    def on_ack(self, ack: Request) -> None:
        if self.invite_txn is not None:
            self.invite_txn.ack_2xx()
        if self.reinvite_txn is not None:
            self.reinvite_txn.ack_2xx()
            self.reinvite_txn = None
        if self._pending_offer is not None:
            self._take_answer(ack)
            if self.state is CallState.ENDED:
                return
        if self.state is CallState.ANSWERED:
            self.state = CallState.CONFIRMED
            hook = getattr(self.app, "on_start", None)
            if hook is not None:
                hook(self)
        elif self.state is CallState.ENDING and self.dialog is not None:
            self.state = CallState.CONFIRMED
            self._send_bye(self.end_reason or "hung up by the app")

    def _take_answer(self, ack: Request) -> None:
        offer = self._pending_offer
        assert offer is not None
        self._pending_offer = None
        try:
            answer = self._parse_body(ack)
            if answer is None:
                raise SessionError(400, "ACK without the SDP answer to our offer")
            negotiated = process_answer(offer, answer, self.ua.local_codecs)
        except (SessionError, NotAcceptable) as exc:
            log.info("call %s: bad answer in ACK (%s): ending", self.id, exc)
            self.state = CallState.CONFIRMED
            self._send_bye("no usable SDP answer in the ACK")
            return
        self._apply(negotiated)

    def on_ack_timeout(self) -> None:
        """Our 2xx was never ACKed (timer L / H): the session is over (RFC 3261 §13.3.1.4)."""
        if self.state in (CallState.ANSWERED, CallState.ENDING):
            self.state = CallState.CONFIRMED
            self._send_bye("no ACK for the 200 OK")

    def on_reinvite(self, req: Request, txn: InviteServerTransaction) -> None:
        if self.reinvite_txn is not None or self.state is not CallState.CONFIRMED:
            # Another offer/answer is in progress (RFC 3261 §14.2).
            txn.respond(make_response(req, 491, to_tag=self.dialog.local_tag))
            return
        if self._refresh_refused(req, txn):
            return
        try:
            offer = self._parse_body(req)
            if offer is None:
                sdp = self._make_offer()
                self._pending_offer = sdp
                self.local_sdp = sdp.serialize()
            else:
                self._answer_offer(offer)
        except SessionError as exc:
            # A failed re-INVITE leaves the session as it was (§14.2).
            txn.respond(make_response(req, exc.status, exc.reason, to_tag=self.dialog.local_tag))
            return
        self.reinvite_txn = txn
        headers = [("Contact", self.dialog.local_contact), *self._refresh_headers()]
        txn.respond(
            make_response(
                req,
                200,
                to_tag=self.dialog.local_tag,
                headers=headers,
                body=self.local_sdp,
                content_type="application/sdp",
            )
        )

    def on_update(self, req: Request, txn: NonInviteServerTransaction) -> None:
        """UPDATE (RFC 3311): an offer answered in the 200, or a plain refresh."""
        body = b""
        if self._refresh_refused(req, txn):
            return
        try:
            offer = self._parse_body(req)
            if offer is not None:
                self._answer_offer(offer)
                body = self.local_sdp
        except SessionError as exc:
            txn.respond(make_response(req, exc.status, exc.reason))
            return
        txn.respond(
            make_response(
                req,
                200,
                headers=[("Contact", self.dialog.local_contact), *self._refresh_headers()],
                body=body,
                content_type="application/sdp" if body else None,
            )
        )

    def _refresh_refused(
        self, req: Request, txn: InviteServerTransaction | NonInviteServerTransaction
    ) -> bool:
        """A re-INVITE/UPDATE refreshes the session timer; True if it was refused (422/400)."""
        if self.session_refresh is None:
            return False
        rejection: Rejection | None = self.session_refresh.refreshed(req)
        if rejection is None:
            return False
        txn.respond(
            make_response(
                req,
                rejection.status,
                rejection.reason,
                to_tag=self.dialog.local_tag,
                headers=[*rejection.headers, *self.ua.server_headers()],
            )
        )
        return True

    def _refresh_headers(self) -> list[tuple[str, str]]:
        timer = self.session_refresh.response_headers() if self.session_refresh else []
        return [*timer, *self.ua.server_headers()]

    def outgoing_answered(self, negotiated: NegotiatedStream | None = None) -> None:
        """Dial-out: the callee's 2xx was ACKed; media starts if the SDP answer was usable."""
        self._pending_offer = None
        self.state = CallState.CONFIRMED
        self.started_at = self.ua.loop.time()
        self.stream.last_rx = self.started_at
        if negotiated is not None:
            self._apply(negotiated)
            self.ua.media_started(self)
            log.info("call %s: answered by the callee%s", self.id, self._codec_text())

    def on_bye(self) -> None:
        self._finish("caller hung up")

    def on_cancel(self) -> None:
        if self.state is CallState.INCOMING and self.invite_txn is not None:
            self._respond_invite(487)
            self._finish("cancelled by the caller")

    def _send_bye(self, reason: str) -> None:
        self.state = CallState.ENDING
        self.end_reason = reason
        self.ua.send_in_dialog(self, "BYE", self._bye_answered)
        # Media stops now; the dialog lives until the BYE is answered or times out.
        self.ua.media_stopped(self)

    def _bye_answered(self, response: Response | None) -> None:
        self._finish(self.end_reason)

    def check_dead_rtp(self, now: float) -> None:
        timeout = self.dead_rtp_timeout
        if not timeout or self.held or self.state is not CallState.CONFIRMED:
            return
        if now - self.stream.last_rx > timeout:
            log.info("call %s: no RTP for %.0f s: hanging up", self.id, timeout)
            self._send_bye(f"no RTP for {timeout:g} s")

    def terminate(self, reason: str) -> None:
        """Server shutdown: end the call whatever its state."""
        if self.state is CallState.INCOMING:
            self.reject(503, "Service Unavailable")
        elif self.state is CallState.DIALING:
            self.hangup(reason)
        elif self.state is CallState.CONFIRMED:
            self._send_bye(reason)
        elif self.state is CallState.ANSWERED:
            # BYE without waiting for the ACK: we are going away.
            self.state = CallState.CONFIRMED
            self._send_bye(reason)

    def _finish(self, reason: str) -> None:
        if self.state is CallState.ENDED:
            return
        self.state = CallState.ENDED
        self.end_reason = reason
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        duration = self.ua.loop.time() - self.started_at if self.started_at else 0.0
        log.info(
            "call %s: ended: %s (%.1f s, rtp in %d out %d)",
            self.id,
            reason,
            duration,
            self.stream.packets_in,
            self.stream.packets_out,
        )
        self._close_sink()
        # A streamed prompt holds its file open: release it now, not when the garbage
        # collector breaks the call's reference cycles.
        self._close(self.stream.source, "source")
        self.ua.call_ended(self)
        hook = getattr(self.app, "on_end", None)
        if hook is not None:
            hook(self, reason)
