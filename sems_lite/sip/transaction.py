"""SIP transactions (RFC 3261 §17, with the RFC 6026 'Accepted' state), sans-IO.

Rules this module keeps:
- a transaction never touches a socket or a clock: it is given a `send(data)` callable and a
  timer service (`call_later(delay, callback, *args) -> handle with cancel()`), so tests drive
  it with a fake clock;
- state changes follow the tables below and nothing else; an event that a state does not
  list is ignored (and that is the RFC's answer for stray retransmissions);
- timers scale from T1/T2/T4; on reliable transports the retransmission timers are not run
  and the wait timers (I, J, K) are zero.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request, Response

T1 = 0.5  # RTT estimate
T2 = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
T4 = 5.0  # maximum duration a message remains in the network

MAGIC_COOKIE = "z9hG4bK"


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class TimerService(Protocol):
    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Cancellable: ...


class State(Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"  # RFC 6026: 2xx sent, waiting for the ACK, absorbing retransmits
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def server_key(req: Request) -> tuple[str, ...]:
    """Transaction key of a request as a server sees it (RFC 3261 §17.2.3).

    ACK matches the INVITE it acknowledges (for non-2xx finals), CANCEL gets its own key.
    Requests from RFC 2543 peers (no magic cookie) fall back to the old matching rules.
    """
    vias = req.vias
    if not vias:
        raise SipParseError("Missing Via header")
    via = vias[0]
    method = "INVITE" if req.method == "ACK" else req.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        sent_by = f"{via.host.lower()}:{via.port or ''}"
        return ("3261", branch, sent_by, method)
    cseq = req.cseq
    return ("2543", req.call_id, req.from_addr.tag or "", str(cseq.number), str(via), method)


def invite_key_for_cancel(cancel: Request) -> tuple[str, ...]:
    key = server_key(cancel)
    return (*key[:-1], "INVITE")


class _Transaction:
    """What every transaction has: a key, a state, named timers, and termination."""

    __slots__ = ("_timers", "key", "on_terminated", "reliable", "send", "state", "timer_handles")

    def __init__(
        self,
        key: tuple[str, ...],
        send: Callable[[bytes], None],
        timers: TimerService,
        reliable: bool,
        on_terminated: Callable[[Any], None],
    ) -> None:
        self.key = key
        self.send = send
        self._timers = timers
        self.reliable = reliable
        self.on_terminated = on_terminated
        self.state = State.TRYING
        self.timer_handles: dict[str, Cancellable] = {}

    def _start(self, name: str, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        self._stop(name)
        self.timer_handles[name] = self._timers.call_later(delay, callback, *args)

    def _stop(self, name: str) -> None:
        handle = self.timer_handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        for handle in self.timer_handles.values():
            handle.cancel()
        self.timer_handles.clear()
        self.on_terminated(self)

    def abort(self) -> None:
        """Forget the transaction without sending anything (server shutdown)."""
        self._terminate()


class ServerTransaction(_Transaction):
    """Common part of the server transactions: remembers and resends the last response.

    The request is dropped once a final response is out: a transaction then lives on for
    up to 32 s only to absorb retransmissions, and at hundreds of calls per second the
    parsed requests would be most of the box's memory.
    """

    __slots__ = ("last_response", "request")

    def __init__(
        self,
        key: tuple[str, ...],
        request: Request,
        send: Callable[[bytes], None],
        timers: TimerService,
        reliable: bool,
        on_terminated: Callable[[ServerTransaction], None],
    ) -> None:
        super().__init__(key, send, timers, reliable, on_terminated)
        self.request: Request | None = request
        self.last_response: bytes | None = None

    def _transmit(self, response: Response) -> None:
        data = response.serialize()
        self.last_response = data
        if response.status >= 200:
            self.request = None
        self.send(data)

    @property
    def final_sent(self) -> bool:
        return self.state not in (State.TRYING, State.PROCEEDING)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.1 plus RFC 6026.

    | state      | event                  | action                           | next       |
    |------------|------------------------|----------------------------------|------------|
    | proceeding | INVITE retransmission  | resend last provisional          | proceeding |
    | proceeding | TU sends 1xx           | send                             | proceeding |
    | proceeding | TU sends 2xx           | send; start 2xx resend and L     | accepted   |
    | proceeding | TU sends 3xx-6xx       | send; start G (unreliable), H    | completed  |
    | accepted   | timer (2xx resend)     | resend 2xx, double up to T2      | accepted   |
    | accepted   | ACK (via the dialog)   | stop resending                   | accepted   |
    | accepted   | timer L                | report missing ACK if none came  | terminated |
    | completed  | INVITE retransmission  | resend final                     | completed  |
    | completed  | timer G                | resend final, double up to T2    | completed  |
    | completed  | ACK                    | start I                          | confirmed  |
    | completed  | timer H                | report missing ACK               | terminated |
    | confirmed  | timer I                |                                  | terminated |
    """

    __slots__ = ("ack_received", "on_ack_timeout")

    def __init__(
        self,
        key: tuple[str, ...],
        request: Request,
        send: Callable[[bytes], None],
        timers: TimerService,
        reliable: bool,
        on_terminated: Callable[[ServerTransaction], None],
        on_ack_timeout: Callable[[InviteServerTransaction], None] | None = None,
    ) -> None:
        super().__init__(key, request, send, timers, reliable, on_terminated)
        self.state = State.PROCEEDING
        self.on_ack_timeout = on_ack_timeout
        self.ack_received = False

    def receive_request(self, req: Request) -> None:
        if req.method == "ACK":
            if self.state is State.COMPLETED:
                self.ack_received = True
                self._stop("G")
                self._stop("H")
                self.state = State.CONFIRMED
                self._start("I", 0.0 if self.reliable else T4, self._terminate)
            return
        # An INVITE retransmission.
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response:
            self.send(self.last_response)

    def ack_2xx(self) -> None:
        """The dialog layer matched an ACK for our 2xx."""
        if self.state is State.ACCEPTED and not self.ack_received:
            self.ack_received = True
            self._stop("G2xx")

    def respond(self, response: Response) -> None:
        if self.state is not State.PROCEEDING:
            return
        self._transmit(response)
        if response.status < 200:
            return
        if response.status < 300:
            self.state = State.ACCEPTED
            # 2xx is retransmitted on every transport: it travels end to end (§13.3.1.4).
            self._start("G2xx", T1, self._resend_2xx, T1)
            self._start("L", 64 * T1, self._timer_l)
            return
        self.state = State.COMPLETED
        if not self.reliable:
            self._start("G", T1, self._timer_g, T1)
        self._start("H", 64 * T1, self._timer_h)

    def _resend_2xx(self, interval: float) -> None:
        if self.state is State.ACCEPTED and not self.ack_received and self.last_response:
            self.send(self.last_response)
            interval = min(2 * interval, T2)
            self._start("G2xx", interval, self._resend_2xx, interval)

    def _timer_l(self) -> None:
        if not self.ack_received and self.on_ack_timeout is not None:
            self.on_ack_timeout(self)
        self._terminate()

    def _timer_g(self, interval: float) -> None:
        if self.state is State.COMPLETED and self.last_response:
            self.send(self.last_response)
            interval = min(2 * interval, T2)
            self._start("G", interval, self._timer_g, interval)

    def _timer_h(self) -> None:
        if self.on_ack_timeout is not None:
            self.on_ack_timeout(self)
        self._terminate()


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 §17.2.2.

    | state      | event              | action               | next       |
    |------------|--------------------|----------------------|------------|
    | trying     | TU sends 1xx       | send                 | proceeding |
    | trying/pr. | TU sends final     | send; start J        | completed  |
    | proceeding | retransmission     | resend provisional   | proceeding |
    | completed  | retransmission     | resend final         | completed  |
    | completed  | timer J            |                      | terminated |
    """

    __slots__ = ()

    def receive_request(self, req: Request) -> None:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response:
            self.send(self.last_response)

    def respond(self, response: Response) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self._transmit(response)
        if response.status < 200:
            self.state = State.PROCEEDING
            return
        self.state = State.COMPLETED
        self._start("J", 0.0 if self.reliable else 64 * T1, self._terminate)


class _ClientTransaction(_Transaction):
    """What client transactions share: keyed by their branch and method, they report
    responses (None for a timeout) to `on_response`."""

    __slots__ = ("_ack", "data", "on_response", "request")

    def __init__(
        self,
        request: Request,
        send: Callable[[bytes], None],
        timers: TimerService,
        reliable: bool,
        on_response: Callable[[Response | None], None],
        on_terminated: Callable[[Any], None],
    ) -> None:
        key = ("client", request.vias[0].branch or "", request.method)
        super().__init__(key, send, timers, reliable, on_terminated)
        self.request = request
        self.on_response = on_response
        self.data = request.serialize()
        self._ack: bytes | None = None  # INVITE only: the ACK of a non-2xx final


class NonInviteClientTransaction(_ClientTransaction):
    """RFC 3261 §17.1.2, for the requests the box sends (BYE, later INFO, NOTIFY...).

    | state      | event          | action                               | next       |
    |------------|----------------|--------------------------------------|------------|
    | trying     | timer E        | resend, double up to T2 (unreliable) | trying     |
    | trying/pr. | 1xx            |                                      | proceeding |
    | proceeding | timer E        | resend every T2 (unreliable)         | proceeding |
    | trying/pr. | final          | report; start K                      | completed  |
    | trying/pr. | timer F        | report timeout (408)                 | terminated |
    | completed  | timer K        |                                      | terminated |
    """

    __slots__ = ()

    def start(self) -> None:
        self.send(self.data)
        if not self.reliable:
            self._start("E", T1, self._timer_e, T1)
        self._start("F", 64 * T1, self._timer_f)

    def _timer_e(self, interval: float) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self.send(self.data)
        interval = T2 if self.state is State.PROCEEDING else min(2 * interval, T2)
        self._start("E", interval, self._timer_e, interval)

    def _timer_f(self) -> None:
        if self.state in (State.TRYING, State.PROCEEDING):
            self._terminate()
            self.on_response(None)

    def receive_response(self, response: Response) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        if response.status < 200:
            self.state = State.PROCEEDING
            return
        self.state = State.COMPLETED
        self._stop("E")
        self._stop("F")
        self.on_response(response)
        self._start("K", 0.0 if self.reliable else T4, self._terminate)


def _client_copy(request: Request, method: str, to: str | None = None) -> Request:
    """ACK (for a non-2xx) or CANCEL of `request`: same R-URI, top Via, From, Call-ID,
    Route, CSeq number (RFC 3261 §17.1.1.3, §9.1)."""
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", to if to is not None else request.headers.get("To") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} {method}")
    headers.add("Content-Length", "0")
    return Request(method, request.uri, headers, b"")


def build_cancel(invite: Request) -> Request:
    return _client_copy(invite, "CANCEL")


class InviteClientTransaction(_ClientTransaction):
    """RFC 3261 §17.1.1 with RFC 6026, for the INVITEs the box sends (dial-out).

    | state      | event            | action                                  | next       |
    |------------|------------------|-----------------------------------------|------------|
    | calling    | timer A          | resend, double the interval (unreliable)| calling    |
    | calling    | timer B          | report timeout (None)                   | terminated |
    | calling/pr.| 1xx              | report                                  | proceeding |
    | calling/pr.| 2xx              | report; start M                         | accepted   |
    | accepted   | 2xx (retransmit) | report (the TU resends its ACK)         | accepted   |
    | accepted   | timer M          |                                         | terminated |
    | calling/pr.| 3xx-6xx          | send ACK; report; start D               | completed  |
    | completed  | 3xx-6xx          | resend ACK                              | completed  |
    | completed  | timer D          |                                         | terminated |
    """

    __slots__ = ()

    def start(self) -> None:
        self.state = State.TRYING  # 'calling'
        self.send(self.data)
        if not self.reliable:
            self._start("A", T1, self._timer_a, self.data, T1)
        self._start("B", 64 * T1, self._timer_b)

    def _timer_a(self, data: bytes, interval: float) -> None:
        if self.state is State.TRYING:
            self.send(data)
            self._start("A", 2 * interval, self._timer_a, data, 2 * interval)

    def _timer_b(self) -> None:
        if self.state in (State.TRYING, State.PROCEEDING):
            self._terminate()
            self.on_response(None)

    def receive_response(self, response: Response) -> None:
        state = self.state
        status = response.status
        if state in (State.TRYING, State.PROCEEDING):
            self._stop("A")
            if status < 200:
                self.state = State.PROCEEDING
            elif status < 300:
                self.state = State.ACCEPTED
                self._stop("B")
                self._start("M", 64 * T1, self._terminate)
            else:
                self.state = State.COMPLETED
                self._stop("B")
                to = response.headers.get("To")
                self._ack = _client_copy(self.request, "ACK", to).serialize()
                self.send(self._ack)
                self._start("D", 0.0 if self.reliable else 32.0, self._terminate)
            self.on_response(response)
        elif state is State.ACCEPTED and 200 <= status < 300:
            self.on_response(response)
        elif state is State.COMPLETED and status >= 300 and self._ack is not None:
            self.send(self._ack)
