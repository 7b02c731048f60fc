"""The SIP user agent core: requests in, transactions, dialogs, calls and apps.

It is given its I/O (a `Transports` with `send(data, peer)`, a loop for timers, the media
engine and the RTP port pool), so tests can drive it with fakes. What it answers:

| request (no To tag)          | answer                                                 |
|------------------------------|--------------------------------------------------------|
| INVITE                       | 100, then the routed app decides; 404 no route; 503   |
|                              | over the call limit, while draining or without ports; |
|                              | stateless 503 past `limits.cps_limit`                 |
| OPTIONS                      | 200 with Allow, Accept, Supported; 503 while draining |
| CANCEL                       | 200 and 487 to the INVITE; 481 if no such INVITE      |
| BYE, INFO, UPDATE, PRACK     | 481 (they only make sense inside a dialog)            |
| REGISTER, SUBSCRIBE, ...     | 405 with Allow (known methods we do not serve)        |
| anything else                | 501 with Allow                                        |

Overload: with `limits.max_transactions` server transactions in flight (no final answer
yet), any new request (never an ACK) gets a stateless 503. Answered transactions linger only
to absorb retransmissions (timers J, I, L: up to 32 s); at most `LINGER_FACTOR` times that
many are kept, the oldest ended early past it. So a flood cannot grow memory past a bound,
and a high call rate is never refused for transactions that are already done.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sems_lite import memory
from sems_lite.apps import AppError, AppTable, Router
from sems_lite.call import Call, CallState, SessionError
from sems_lite.config import Config
from sems_lite.core.counters import Counters, ResultCounters, StatusCounters
from sems_lite.core.loop import Loop, TimerHandle
from sems_lite.core.ports import RtpPortPool
from sems_lite.core.transport import Peer, Transports
from sems_lite.dialout import Answered, Dialer, Failed
from sems_lite.media.codecs import codec_specs
from sems_lite.media.engine import MediaEngine
from sems_lite.rtp.stream import RtpStream
from sems_lite.session_refresh import SessionRefresh
from sems_lite.sip.dialog import Dialog, new_branch, new_tag
from sems_lite.sip.dtmf_info import parse_dtmf_body
from sems_lite.sip.errors import SipParseError
from sems_lite.sip.message import Request, Response, parse_message
from sems_lite.sip.replies import make_response
from sems_lite.sip.request import build_invite
from sems_lite.sip.session_timer import SessionTimer
from sems_lite.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    invite_key_for_cancel,
    server_key,
)
from sems_lite.sip.uri import SipUri, parse_uri
from sems_lite.sip.validate import Rejection, check_request
from sems_lite.sip.via import Via, parse_via

if TYPE_CHECKING:
    from sems_lite.sip.auth import DigestAuthenticator

log = logging.getLogger("sems_lite.ua")

ClientTransaction = NonInviteClientTransaction | InviteClientTransaction

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
ACCEPT = "application/sdp"
SUPPORTED = "timer"  # RFC 4028 session timers (100rel is not supported)
KNOWN_UNSERVED = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER"})
COUNTED_METHODS = (*ALLOW.split(", "), "PRACK", *sorted(KNOWN_UNSERVED))  # /metrics by name
DTMF_BODIES = (ACCEPT, "application/dtmf-relay", "application/dtmf")
DIALOG_ONLY = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})
SHUTDOWN_GRACE = 4.0  # seconds to wait for BYE answers when stopping
CPS_RETRY_AFTER = "1"  # seconds: a calls-per-second overload clears within one
IDLE_RELEASE_S = 2.0  # quiet seconds after the last call before memory is handed back
LINGER_FACTOR = 8  # answered transactions kept, per unit of limits.max_transactions


class DialError(Exception):
    """A call could not be placed (bad target, limits, no ports, draining)."""


class UserAgent:
    def __init__(
        self,
        loop: Loop,
        config: Config,
        transports: Transports,
        engine: MediaEngine,
        ports: RtpPortPool,
        router: Router,
        apps: AppTable,
    ) -> None:
        self.loop = loop
        self.transports = transports
        self.engine = engine
        self.ports = ports
        self.router = router
        self.apps = apps
        self.config = config
        self.local_codecs = codec_specs(config.codecs)
        self.authenticator = _authenticator(config, None, loop.time)
        self.server_txns: dict[tuple[str, ...], ServerTransaction] = {}
        # Server transactions without a final answer yet, and the answered ones that linger
        # for retransmissions, oldest first (dicts keep insertion order).
        self.pending_txns: set[tuple[str, ...]] = set()
        self.answered_txns: dict[tuple[str, ...], None] = {}
        self.client_txns: dict[tuple[str, ...], ClientTransaction] = {}
        self.invite_calls: dict[tuple[str, ...], Call] = {}  # INVITE txn key -> call (CANCEL)
        self.dialogs: dict[tuple[str, str, str], Call] = {}
        self.calls: dict[str, Call] = {}
        self.draining = False
        self.on_idle: Callable[[], None] | None = None  # called when draining and no calls
        self.stats = Counters("requests", "responses", "parse_errors")
        # Counters for /metrics: requests by method, responses sent by code, calls by result.
        # All made at start, in place (core/counters.py): a dict's table, keys and numbers
        # would be made during the first load and keep its memory after it.
        self.request_counts = Counters(*COUNTED_METHODS, "other")
        self.response_counts = StatusCounters()
        self.call_results = ResultCounters(config.apps)
        self.rtp_totals = Counters("packets_in", "packets_out", "octets_out")
        # Token bucket for new INVITEs (limits.cps_limit): starts full, one second's worth.
        # [tokens, last refill time], in place: see core/counters.py.
        self._cps_bucket = array("d", [max(float(config.limits.cps_limit), 1.0), loop.time()])
        # Runs while there are calls: an idle box allocates nothing (after a load, anything
        # made anew keeps whichever allocator arena it lands in resident).
        self._dead_rtp_timer: TimerHandle | None = None
        self._release_timer: TimerHandle | None = None

    def reconfigure(self, config: Config, router: Router) -> None:
        """SIGHUP: new routing, limits, codecs; calls in progress keep what they have."""
        self.config = config
        self.router = router
        self.local_codecs = codec_specs(config.codecs)
        # Same secret: nonces issued before the reload stay valid.
        self.authenticator = _authenticator(config, self.authenticator, self.loop.time)

    # -- incoming --------------------------------------------------------------------------
    def receive(self, data: bytes, peer: Peer) -> None:
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.stats["parse_errors"] += 1
            self._answer_parse_error(exc, peer)
            return
        if isinstance(msg, Response):
            self.stats["responses"] += 1
            self._on_response(msg)
            return
        self.stats["requests"] += 1
        # Methods come from the network: the known ones by name, the rest as "other".
        counts = self.request_counts
        counts[msg.method if msg.method in counts else "other"] += 1
        try:
            self._stamp_via(msg, peer)
            self._on_request(msg, peer)
        except SipParseError as exc:
            # A header we needed turned out unparsable: answer 400 if we still can.
            exc.partial = exc.partial or msg
            self._answer_parse_error(exc, peer)

    def _answer_parse_error(self, exc: SipParseError, peer: Peer) -> None:
        partial = exc.partial
        if not isinstance(partial, Request) or partial.method == "ACK":
            log.debug("dropped unparsable message from %s: %s", peer.host, exc.reason)
            return
        try:
            try:
                dest = self.response_peer(partial, peer)
            except (ValueError, IndexError):
                # No usable Via: the source of the datagram is the best place for the 400.
                dest = peer
            reason = _reason_text(exc.reason) if exc.status == 400 else None
            resp = make_response(partial, exc.status, reason)
        except (ValueError, IndexError) as again:
            log.debug("dropped unparsable request from %s: %s (%s)", peer.host, exc, again)
            return
        log.info("%s from %s: %d %s", partial.method, peer.host, exc.status, exc.reason)
        self.transports.send(resp.serialize(), dest)

    def _stamp_via(self, req: Request, peer: Peer) -> None:
        """Record where the request really came from (RFC 3261 §18.2.1, RFC 3581)."""
        vias = req.headers.get_all("Via")
        if not vias:
            return
        top = parse_via(vias[0])
        changed = False
        if top.host != peer.host:
            top.params["received"] = peer.host
            changed = True
        if "rport" in top.params and not top.params["rport"]:
            top.params["rport"] = str(peer.port)
            changed = True
        if changed:
            req.headers.remove("Via")
            req.headers.add("Via", str(top))
            for value in vias[1:]:
                req.headers.add("Via", value)

    def response_peer(self, req: Request, peer: Peer) -> Peer:
        """Where responses to `req` go (RFC 3261 §18.2.2 with RFC 3581)."""
        if peer.reliable:
            return peer
        via = req.vias[0]
        host = via.received or via.host
        port = via.rport or via.port or 5060
        return Peer("udp", host, port, peer.listener)

    def _on_request(self, req: Request, peer: Peer) -> None:
        try:
            key = server_key(req)
        except (ValueError, IndexError):
            # No usable Via (or CSeq/From for RFC 2543 matching): no transaction can be
            # formed; answer once, statelessly, to where the datagram came from.
            if req.method != "ACK":
                rejection = check_request(req)
                status, reason = (rejection.status, rejection.reason) if rejection else (400, "")
                resp = make_response(req, status, reason or "Bad Request - Missing Via")
                self.transports.send(resp.serialize(), peer)
            return
        txn = self.server_txns.get(key)
        if txn is not None:
            txn.receive_request(req)  # retransmission, or ACK to a non-2xx final
            return
        if req.method == "ACK":
            self._on_ack(req)
            return
        dest = self.response_peer(req, peer)
        in_flight = len(self.pending_txns)
        if in_flight >= self.config.limits.max_transactions:
            log.warning(
                "%s from %s: 503, %d transactions in flight", req.method, peer.host, in_flight
            )
            self._shed(req, dest, self._retry_after())
            return
        if req.method == "INVITE" and not req.to_addr.tag and not self._cps_admit():
            log.info("INVITE %s from %s: 503, over cps_limit", req.uri, peer.host)
            self._shed(req, dest, [("Retry-After", CPS_RETRY_AFTER), *self.server_headers()])
            return
        txn = self._new_server_txn(key, req, dest)
        accept = DTMF_BODIES if req.method == "INFO" else (ACCEPT,)
        rejection = check_request(req, accept=accept, supported=self._extensions())
        if rejection is not None:
            txn.respond(
                make_response(
                    req,
                    rejection.status,
                    rejection.reason,
                    headers=[*rejection.headers, *self.server_headers()],
                )
            )
            return
        if req.method == "CANCEL":
            self._on_cancel(req, txn)
            return
        if req.to_addr.tag:
            self._in_dialog(req, txn)
        else:
            self._out_of_dialog(req, txn, peer)

    def _extensions(self) -> tuple[str, ...]:
        return ("timer",) if self.config.sip.session_timer.enabled else ()

    def _cps_admit(self) -> bool:
        """Take a token from the calls-per-second bucket; False when it is empty."""
        rate = self.config.limits.cps_limit
        if rate <= 0:
            return True
        now = self.loop.time()
        # Burst of one second's worth (at least one call), refilled continuously.
        burst = max(rate, 1.0)
        bucket = self._cps_bucket
        bucket[0] = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def _shed(self, req: Request, dest: Peer, headers: list[tuple[str, str]]) -> None:
        """A stateless 503 (RFC 3261 §8.2.6): no transaction, so no memory kept for it."""
        resp = make_response(req, 503, to_tag=new_tag(), headers=headers)
        self.response_counts.add(503)
        self.transports.send(resp.serialize(), dest)

    def _new_server_txn(self, key: tuple[str, ...], req: Request, dest: Peer) -> ServerTransaction:
        def send(data: bytes) -> None:
            code = int(data[8:11]) if data[8:11].isdigit() else 0
            if code:
                self.response_counts.add(code)
            self.transports.send(data, dest)
            if code >= 200 and key in self.pending_txns:
                self.pending_txns.discard(key)
                self._answered(key)

        txn: ServerTransaction
        if req.method == "INVITE":
            txn = InviteServerTransaction(
                key, req, send, self.loop, dest.reliable, self._txn_done, self._ack_timeout
            )
            # 100 Trying at once: it stops the caller's INVITE retransmissions.
            txn.respond(make_response(req, 100))
        else:
            txn = NonInviteServerTransaction(
                key, req, send, self.loop, dest.reliable, self._txn_done
            )
        self.server_txns[key] = txn
        self.pending_txns.add(key)
        return txn

    def _answered(self, key: tuple[str, ...]) -> None:
        """A server transaction sent its final answer; end the oldest lingering ones early
        when there are too many (all they lose is absorbing a late retransmission)."""
        answered = self.answered_txns
        answered[key] = None
        excess = len(answered) - LINGER_FACTOR * self.config.limits.max_transactions
        while excess > 0:
            excess -= 1
            oldest = next(iter(answered))
            del answered[oldest]
            txn = self.server_txns.get(oldest)
            # A 2xx awaiting its ACK is a call being set up (bounded by max_calls): it keeps
            # resending and ends by itself (timer L).
            if txn is None or _awaits_ack(txn):
                continue
            txn.abort()

    def _txn_done(self, txn: ServerTransaction) -> None:
        if self.server_txns.get(txn.key) is txn:
            del self.server_txns[txn.key]
            self.pending_txns.discard(txn.key)
            self.answered_txns.pop(txn.key, None)
        self.invite_calls.pop(txn.key, None)

    def _ack_timeout(self, txn: InviteServerTransaction) -> None:
        call = self.invite_calls.get(txn.key)
        if call is not None and not call.ended:
            call.on_ack_timeout()

    def _on_response(self, resp: Response) -> None:
        try:
            via = resp.vias[0]
            key = ("client", via.branch or "", resp.cseq.method)
        except (ValueError, IndexError):
            return
        txn = self.client_txns.get(key)
        if txn is not None:
            txn.receive_response(resp)

    def _on_ack(self, ack: Request) -> None:
        call = self.dialogs.get(_dialog_key(ack, ack.to_addr.tag))
        if call is not None:
            call.on_ack(ack)

    def _on_cancel(self, req: Request, txn: ServerTransaction) -> None:
        invite_key = invite_key_for_cancel(req)
        invite_txn = self.server_txns.get(invite_key)
        if invite_txn is None:
            txn.respond(make_response(req, 481))
            return
        txn.respond(make_response(req, 200, headers=self.server_headers()))
        call = self.invite_calls.get(invite_key)
        if call is not None:
            call.on_cancel()

    def _in_dialog(self, req: Request, txn: ServerTransaction) -> None:
        call = self.dialogs.get(_dialog_key(req, req.to_addr.tag))
        method = req.method
        if call is None or call.ended:
            txn.respond(make_response(req, 481, headers=self.server_headers()))
            return
        if not call.dialog.accept_remote_cseq(req):
            txn.respond(
                make_response(req, 500, "Out of Order CSeq", headers=[("Retry-After", "1")])
            )
            return
        if method == "BYE":
            txn.respond(make_response(req, 200, headers=self.server_headers()))
            call.on_bye()
        elif method == "INVITE":
            assert isinstance(txn, InviteServerTransaction)
            self.invite_calls[txn.key] = call
            call.on_reinvite(req, txn)
        elif method == "UPDATE":
            assert isinstance(txn, NonInviteServerTransaction)
            call.on_update(req, txn)
        elif method == "INFO":
            digit = parse_dtmf_body(req.content_type or "", req.body) if req.body else None
            txn.respond(make_response(req, 200, headers=self.server_headers()))
            if digit is not None:
                call.dtmf_received(*digit)
        elif method == "OPTIONS":
            txn.respond(make_response(req, 200, headers=self._capabilities()))
        elif method == "PRACK":
            # We never send reliable provisionals, so no PRACK can match one (RFC 3262).
            txn.respond(make_response(req, 481, headers=self.server_headers()))
        else:
            self._not_served(req, txn)

    def _out_of_dialog(self, req: Request, txn: ServerTransaction, peer: Peer) -> None:
        method = req.method
        if method == "INVITE":
            assert isinstance(txn, InviteServerTransaction)
            self._new_call(req, txn, peer)
        elif method == "OPTIONS":
            if self.draining or len(self.calls) >= self.config.limits.max_calls:
                txn.respond(make_response(req, 503, headers=self._retry_after()))
            else:
                txn.respond(make_response(req, 200, to_tag=new_tag(), headers=self._capabilities()))
        elif method in DIALOG_ONLY:
            txn.respond(make_response(req, 481, headers=self.server_headers()))
        else:
            self._not_served(req, txn)

    def _not_served(self, req: Request, txn: ServerTransaction) -> None:
        status = 405 if req.method in KNOWN_UNSERVED or req.method in ALLOW else 501
        txn.respond(make_response(req, status, headers=[("Allow", ALLOW), *self.server_headers()]))

    def _capabilities(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ALLOW),
            ("Accept", ACCEPT),
            ("Supported", SUPPORTED),
            *self.server_headers(),
        ]

    def allow_headers(self) -> list[tuple[str, str]]:
        return [("Allow", ALLOW), ("Supported", SUPPORTED)]

    def server_headers(self) -> list[tuple[str, str]]:
        return [("Server", self.config.sip.user_agent)]

    def _retry_after(self) -> list[tuple[str, str]]:
        return [("Retry-After", str(self.config.limits.retry_after)), *self.server_headers()]

    # -- calls -----------------------------------------------------------------------------
    def _new_call(self, req: Request, txn: InviteServerTransaction, peer: Peer) -> None:
        def reject(status: int, reason: str | None = None, headers: Any = None) -> None:
            txn.respond(
                make_response(
                    req,
                    status,
                    reason,
                    to_tag=new_tag(),
                    headers=headers or self.server_headers(),
                )
            )

        if self.draining:
            reject(503, "Service Unavailable", self._retry_after())
            return
        if len(self.calls) >= self.config.limits.max_calls:
            log.info("INVITE %s: 503, call limit %d reached", req.uri, self.config.limits.max_calls)
            reject(503, "Service Unavailable", self._retry_after())
            return
        app_name, needs_auth = self.router.route(req.uri, req.headers)
        if app_name is None:
            log.info("INVITE %s from %s: 404, no routing rule matches", req.uri, peer.host)
            reject(404)
            return
        if needs_auth:
            challenge = self._check_credentials(req, peer)
            if challenge is not None:
                reject(401, "Unauthorized", [*challenge, *self.server_headers()])
                return
        timer = self._session_timer(req)
        if isinstance(timer, Rejection):
            log.info("INVITE %s from %s: %d %s", req.uri, peer.host, timer.status, timer.reason)
            reject(timer.status, timer.reason, [*timer.headers, *self.server_headers()])
            return
        try:
            app = self.apps.instance(app_name)
        except AppError as exc:
            log.error("INVITE %s: app %s failed to load: %s", req.uri, app_name, exc)
            reject(500, "App Not Available")
            return
        host = self.local_host(peer)
        stream = self._new_stream(app, host)
        if stream is None:
            log.warning("INVITE %s: 503, RTP port range exhausted", req.uri)
            reject(503, "No RTP Ports", self._retry_after())
            return
        port = stream.local_port
        dialog = Dialog.uas_from_invite(req, new_tag(), self.contact_for(peer), peer.transport)
        call = Call(self, req, txn, dialog, stream, host, app_name, app)
        call.peer = peer
        if timer is not None:
            call.session_refresh = SessionRefresh(call, timer)
        try:
            call.process_initial_offer()
        except SessionError as exc:
            log.info("INVITE %s: %d %s", req.uri, exc.status, exc.reason)
            reject(
                exc.status,
                exc.reason,
                [*self.server_headers(), ("Accept", ACCEPT)] if exc.status == 415 else None,
            )
            stream.close()
            self.ports.release(port)
            return
        self.calls[call.id] = call
        self._watch_rtp()
        self.dialogs[dialog.id] = call
        self.invite_calls[txn.key] = call
        self.loop.add_reader(stream.rtcp_sock, stream.drain_rtcp)
        log.info(
            "call %s: INVITE %s from %s via %s:%s:%d -> app %s",
            call.id,
            req.uri,
            req.from_addr.uri,
            peer.transport,
            peer.host,
            peer.port,
            app_name,
        )
        try:
            app.on_invite(call)
        except Exception:
            log.exception("call %s: app %s failed in on_invite", call.id, app_name)
            if call.state is CallState.INCOMING:
                call.reject(500, "App Error")
            else:
                call.hangup("app error")

    def _check_credentials(self, req: Request, peer: Peer) -> list[tuple[str, str]] | None:
        """None if the INVITE carries valid digest credentials, else the 401's challenge."""
        from sems_lite.sip.auth import redact

        assert self.authenticator is not None  # config: an `auth: true` rule needs users
        stale = False
        for value in req.headers.get_all("Authorization"):
            result = self.authenticator.verify(req.method, value, uri=str(req.uri))
            if result.ok:
                log.info("INVITE %s from %s: authenticated as %s", req.uri, peer.host, result.user)
                return None
            stale = stale or result.stale
            # Never the header itself: it carries the response hash (see auth.redact).
            log.info(
                "INVITE %s from %s: credentials refused (%s): %s",
                req.uri,
                peer.host,
                result.reason,
                redact(value),
            )
        return self.authenticator.challenge(stale)

    def _session_timer(self, req: Request) -> SessionTimer | Rejection | None:
        cfg = self.config.sip.session_timer
        if not cfg.enabled:
            return None
        return SessionTimer.negotiate(
            req.headers,
            session_expires=cfg.session_expires,
            min_se=cfg.min_se,
            prefer=cfg.refresher,
        )

    def media_started(self, call: Call) -> None:
        if not call.media_on:
            call.media_on = True
            self.engine.add(call.stream)

    def media_stopped(self, call: Call) -> None:
        if call.media_on:
            call.media_on = False
            self.engine.remove(call.stream)

    def call_ended(self, call: Call) -> None:
        self.media_stopped(call)
        totals = self.rtp_totals
        totals["packets_in"] += call.stream.packets_in
        totals["packets_out"] += call.stream.packets_out
        totals["octets_out"] += call.stream.octets_out
        self.call_results.add(call.app_name, call.final_status)
        self.calls.pop(call.id, None)
        # The INVITE transactions outlive the call (timer L/H); they must not keep it alive.
        for txn in (call.invite_txn, call.reinvite_txn):
            if txn is not None and self.invite_calls.get(txn.key) is call:
                del self.invite_calls[txn.key]
        if self.dialogs.get(call.dialog.id) is call:
            del self.dialogs[call.dialog.id]
        self.loop.remove(call.stream.rtcp_sock)
        call.stream.close()
        self.ports.release(call.stream.local_port)
        if self.draining and not self.calls and self.on_idle is not None:
            self.on_idle()
        if not self.calls and self._release_timer is None:
            # Idle again after a load: hand the memory back once things are quiet.
            self._release_timer = self.loop.call_later(IDLE_RELEASE_S, self._release_memory)

    def _release_memory(self) -> None:
        self._release_timer = None
        if self.calls:
            return  # busy again; the next quiet spell will do it
        if self.server_txns or self.client_txns:
            # Answered transactions linger for retransmissions (up to 32 s): wait for them.
            self._release_timer = self.loop.call_later(IDLE_RELEASE_S, self._release_memory)
            return
        self.loop.purge_cancelled()
        memory.drop_empty_storage(
            self.calls,
            self.dialogs,
            self.invite_calls,
            self.server_txns,
            self.pending_txns,
            self.answered_txns,
            self.client_txns,
        )
        # Between two turns of the loop: what this turn holds is then gone too.
        self.loop.call_between_turns(memory.release)

    def _watch_rtp(self) -> None:
        if self._dead_rtp_timer is None:
            self._dead_rtp_timer = self.loop.call_later(1.0, self._check_dead_rtp)

    def _check_dead_rtp(self) -> None:
        self._dead_rtp_timer = None
        now = self.loop.time()
        for call in list(self.calls.values()):
            call.check_dead_rtp(now)
        if self.calls:
            self._watch_rtp()

    # -- outgoing requests -----------------------------------------------------------------
    def dialog_route(self, call: Call) -> tuple[Peer, Via] | None:
        """Where the next request inside the call's dialog goes, and the Via for it."""
        dialog = call.dialog
        hop = dialog.next_hop()
        peer = call.peer
        assert isinstance(peer, Peer)
        if not isinstance(hop, SipUri):
            return None
        transport = (hop.params.get("transport") or dialog.transport or "udp").lower()
        if transport not in ("udp", "tcp"):
            transport = dialog.transport
        host = _resolve(hop.host)
        port = hop.port or 5060
        listener = self.transports.listener_for(transport, host)
        if listener is None:
            listener = peer.listener
            transport = peer.transport
        dest = Peer(transport, host, port, listener, peer.conn_id if transport == "tcp" else None)
        return dest, self._via(dest, peer)

    def _via(self, dest: Peer, peer: Peer) -> Via:
        _kind, lhost, lport, _sock = self.transports.listeners[dest.listener]
        branch = {"branch": new_branch(), "rport": None}
        return Via(dest.transport.upper(), self._advertised(lhost, peer), lport, branch)

    def send_in_dialog(
        self,
        call: Call,
        method: str,
        on_response: Callable[[Response | None], None],
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> None:
        route = self.dialog_route(call)
        if route is None:
            log.warning("call %s: cannot send %s to %s", call.id, method, call.dialog.next_hop())
            on_response(None)
            return
        dest, via = route
        req = call.dialog.create_request(
            method, via, extra_headers=extra_headers, user_agent=self.config.sip.user_agent
        )
        self.send_request(req, dest, on_response)

    def send_request(
        self, req: Request, dest: Peer, on_response: Callable[[Response | None], None]
    ) -> None:
        """Send a non-INVITE request in its own client transaction."""

        def send(data: bytes) -> None:
            self.transports.send(data, dest)

        txn = NonInviteClientTransaction(
            req, send, self.loop, dest.reliable, on_response, self.txn_ended
        )
        self.client_txns[txn.key] = txn
        txn.start()

    def txn_ended(self, txn: ClientTransaction) -> None:
        if self.client_txns.get(txn.key) is txn:
            del self.client_txns[txn.key]

    # -- dial-out ----------------------------------------------------------------------------
    def dial(
        self,
        target: str,
        app_name: str,
        *,
        on_answered: Answered,
        on_failed: Failed,
        caller: str = "sems",
        ring_timeout: float = 60.0,
    ) -> Call:
        """Place a call to `target` (a sip: URI) on behalf of an app; DialError if it cannot
        start. `on_answered(call)` runs once the callee's 2xx is ACKed and media is up;
        `on_failed(call, status)` when it ends unanswered (408 for no answer). The app's
        `on_end` hook runs when the call ends, as for incoming calls."""
        if self.draining:
            raise DialError("the box is draining")
        if len(self.calls) >= self.config.limits.max_calls:
            raise DialError(f"call limit {self.config.limits.max_calls} reached")
        try:
            uri = parse_uri(target)
        except SipParseError as exc:
            raise DialError(f"bad target {target!r}: {exc.reason}") from None
        if not isinstance(uri, SipUri) or not uri.host:
            raise DialError(f"target {target!r} is not a sip: URI")
        transport = (uri.params.get("transport") or "udp").lower()
        host = _resolve(uri.host)
        listener = self.transports.listener_for(transport, host)
        if transport not in ("udp", "tcp") or listener is None:
            raise DialError(f"no {transport} listener to reach {target!r}")
        dest = Peer(transport, host, uri.port or 5060, listener)
        app = self.apps.instance(app_name)
        media_host = self.local_host(dest)
        stream = self._new_stream(app, media_host)
        if stream is None:
            raise DialError("RTP port range exhausted")
        contact = self.contact_for(dest)
        invite = build_invite(
            uri,
            via=self._via(dest, dest),
            from_uri=f"sip:{caller}@{_host_text(media_host)}",
            contact=contact,
            user_agent=self.config.sip.user_agent,
            extra_headers=self.allow_headers(),
        )
        dialog = Dialog.uac_for_invite(invite, contact, transport)
        call = Call(self, invite, None, dialog, stream, media_host, app_name, app)
        call.peer = dest
        call.state = CallState.DIALING
        offer = call.make_offer()
        invite.body = offer.serialize()
        invite.headers.add("Content-Type", "application/sdp")
        self.calls[call.id] = call
        self._watch_rtp()
        self.loop.add_reader(stream.rtcp_sock, stream.drain_rtcp)
        log.info("call %s: dialing %s for app %s", call.id, target, app_name)
        call.dialer = Dialer(call, dest, on_answered, on_failed)
        call.dialer.start()
        if ring_timeout > 0:
            call.set_timer(ring_timeout, _ring_timeout, call)
        return call

    def _new_stream(self, app: Any, host: str) -> RtpStream | None:
        """An RTP stream on a fresh port pair, or None when the range is exhausted."""
        allocated = self.ports.allocate(host)
        if allocated is None:
            return None
        rtp_sock, rtcp_sock, port = allocated
        stream = RtpStream(
            rtp_sock,
            rtcp_sock,
            port,
            jitter_min_frames=getattr(app, "jitter_min_frames", 1),
            jitter_max_frames=getattr(app, "jitter_max_frames", 10),
        )
        stream.inband_dtmf = takes_dtmf(app)
        return stream

    def dialog_confirmed(self, call: Call) -> None:
        self.dialogs[call.dialog.id] = call

    # -- addresses -------------------------------------------------------------------------
    def local_host(self, peer: Peer) -> str:
        """The local address for media and Contact towards `peer`."""
        _kind, host, _port, _sock = self.transports.listeners[peer.listener]
        return self._advertised(host, peer)

    def _advertised(self, host: str, peer: Peer) -> str:
        if self.config.sip.public_address:
            return self.config.sip.public_address
        if host in ("0.0.0.0", "::"):
            # A wildcard listener: ask the kernel which source address reaches the peer.
            family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect((peer.host, peer.port or 5060))
                    return probe.getsockname()[0]
                except OSError:
                    return "127.0.0.1" if family == socket.AF_INET else "::1"
        return host

    def contact_for(self, peer: Peer) -> str:
        _kind, host, port, _sock = self.transports.listeners[peer.listener]
        host = self._advertised(host, peer)
        hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        suffix = ";transport=tcp" if peer.transport == "tcp" else ""
        return f"<sip:{hostport}{suffix}>"

    # -- shutdown --------------------------------------------------------------------------
    def drain_and_stop(self, on_done: Callable[[], None]) -> None:
        """Answer nothing new, BYE every call, then call `on_done` (or after a grace time)."""
        self.draining = True
        finished = False

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            # Calls whose BYE is still unanswered after the grace end here, so their
            # recordings are closed and saved and their apps hear on_end.
            for call in list(self.calls.values()):
                call._finish("server stopped")
            on_done()

        self.on_idle = finish
        for call in list(self.calls.values()):
            call.terminate("server shutting down")
        if not self.calls:
            finish()
            return
        self.loop.call_later(SHUTDOWN_GRACE, finish)


def _authenticator(
    config: Config, previous: DigestAuthenticator | None, clock: Callable[[], float]
) -> DigestAuthenticator | None:
    auth = config.auth
    if not auth.users:
        return None  # no rule can require auth; hashlib (OpenSSL, ~4 MB) is not loaded
    from sems_lite.sip.auth import DigestAuthenticator

    return DigestAuthenticator(
        auth.realm,
        auth.users,
        algorithms=auth.algorithms,
        nonce_ttl=auth.nonce_ttl,
        secret=previous.secret if previous is not None else None,
        clock=clock,
    )


def _awaits_ack(txn: ServerTransaction) -> bool:
    return (
        isinstance(txn, InviteServerTransaction)
        and txn.state is State.ACCEPTED
        and not txn.ack_received
    )


def takes_dtmf(app: Any) -> bool:
    """Whether an app handles digits (then tones in the audio are listened for too)."""
    return callable(getattr(app, "on_dtmf", None))


def _ring_timeout(call: Call) -> None:
    if call.state is CallState.DIALING:
        log.info("call %s: no answer in time: cancelling", call.id)
        call.hangup("no answer")


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _dialog_key(req: Request, to_tag: str | None) -> tuple[str, str, str]:
    return (req.call_id, to_tag or "", req.from_addr.tag or "")


def _reason_text(reason: str) -> str:
    # A reason phrase must stay on one line and printable.
    text = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in reason)[:100]
    return f"Bad Request - {text}" if text else "Bad Request"


def _resolve(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    # DNS lookups block; hosts named by name are rare for a media server (RFC 3263 later).
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0]
    except OSError:
        return host
