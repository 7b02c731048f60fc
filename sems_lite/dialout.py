"""Calls the box places (dial-out): one INVITE client transaction driving a `Call`.

The UA builds the INVITE with an SDP offer (`UserAgent.dial`); this module runs it:
- 1xx: ringing; a hang-up from then on sends CANCEL (before any 1xx it waits for one,
  RFC 3261 §9.1, or for timer B);
- 2xx: the dialog is confirmed from it, the ACK goes out (and again for each 2xx
  retransmission), the SDP answer sets up media, and `on_answered(call)` runs;
- 3xx-6xx or no answer: the call ends with that status and `on_failed(call, status)` runs.
A 2xx that races a CANCEL is ACKed and then ended with BYE (§9.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sems_lite.sdp.model import SdpError, parse_sdp
from sems_lite.sdp.offer_answer import NotAcceptable, process_answer
from sems_lite.sip.message import Response
from sems_lite.sip.transaction import InviteClientTransaction, build_cancel

if TYPE_CHECKING:
    from sems_lite.call import Call
    from sems_lite.core.transport import Peer

log = logging.getLogger("sems_lite.call")

Answered = Callable[["Call"], None]
Failed = Callable[["Call", int], None]


def _ignore(_response: Response | None) -> None:
    return None


class Dialer:
    __slots__ = (
        "_ack",
        "_cancel_wanted",
        "_provisional",
        "call",
        "dest",
        "on_answered",
        "on_failed",
        "txn",
    )

    def __init__(self, call: Call, dest: Peer, on_answered: Answered, on_failed: Failed) -> None:
        self.call = call
        self.dest = dest
        self.on_answered = on_answered
        self.on_failed = on_failed
        self._ack: bytes | None = None
        self._provisional = False
        self._cancel_wanted = False
        self.txn: InviteClientTransaction | None = None

    def start(self) -> None:
        ua = self.call.ua
        txn = InviteClientTransaction(
            self.call.invite,
            self._send,
            ua.loop,
            self.dest.reliable,
            self._on_response,
            ua.txn_ended,
        )
        self.txn = txn
        ua.client_txns[txn.key] = txn
        txn.start()

    def _send(self, data: bytes) -> None:
        self.call.ua.transports.send(data, self.dest)

    def cancel(self) -> None:
        """Stop ringing the callee: CANCEL now if it has answered with a 1xx, else later."""
        if self._cancel_wanted:
            return
        self._cancel_wanted = True
        if self._provisional:
            self._send_cancel()

    def _send_cancel(self) -> None:
        self.call.ua.send_request(build_cancel(self.call.invite), self.dest, _ignore)

    def _on_response(self, response: Response | None) -> None:
        call = self.call
        if response is None:
            self._failed(408, "no answer from the callee (timer B)")
        elif response.status < 200:
            if not self._provisional:
                self._provisional = True
                log.info("call %s: callee %d %s", call.id, response.status, response.reason)
                if self._cancel_wanted:
                    self._send_cancel()
        elif response.status < 300:
            self._on_2xx(response)
        elif not call.ended:
            self._failed(response.status, f"callee answered {response.status} {response.reason}")

    def _failed(self, status: int, reason: str) -> None:
        call = self.call
        if call.ended:
            return
        call.final_status = status
        call._finish(reason)
        self.on_failed(call, status)

    def _on_2xx(self, response: Response) -> None:
        call = self.call
        if self._ack is not None:  # a retransmitted 2xx: our ACK was lost
            if response.to_addr.tag == call.dialog.remote_tag:
                self._send_ack_again()
            return
        ua = call.ua
        call.dialog.confirm(response)
        route = ua.dialog_route(call)
        if route is None:
            log.warning("call %s: cannot reach the callee's Contact", call.id)
            self._failed(502, "unusable Contact in the 2xx")
            return
        dest, via = route
        ack = call.dialog.create_ack(call.invite.cseq.number, via, ua.config.sip.user_agent)
        self._ack = ack.serialize()
        self.dest = dest
        self._send(self._ack)
        ua.dialog_confirmed(call)
        call.final_status = response.status
        if self._cancel_wanted:
            call.outgoing_answered()
            call.hangup("cancelled before the answer")
            return
        try:
            answer = parse_sdp(response.body) if response.body else None
            if answer is None or call._pending_offer is None:
                raise NotAcceptable("no SDP answer in the 2xx")
            negotiated = process_answer(call._pending_offer, answer, ua.local_codecs)
        except (SdpError, NotAcceptable) as exc:
            log.info("call %s: unusable answer from the callee (%s): ending", call.id, exc)
            call.outgoing_answered()
            call.hangup("no usable SDP answer")
            return
        call.outgoing_answered(negotiated)
        self.on_answered(call)

    def _send_ack_again(self) -> None:
        if self._ack is not None:
            self._send(self._ack)
