"""SIP dialogs (RFC 3261 §12), sans-IO: the UAS side, and the UAC side for dial-out.

Rules this module keeps:
- a dialog is identified by Call-ID, local tag and remote tag;
- the route set is the Record-Route of the INVITE in its order (UAS side, §12.1.1), or of
  the 2xx in reverse order (UAC side, §12.1.2);
- the ACK for a 2xx is a new transaction with the INVITE's CSeq number (§13.2.2.4);
- remote CSeq numbers must grow; a lower one gets 500 (§12.2.2);
- requests the box sends inside the dialog are built here: R-URI is the remote target
  (loose routing) or the first route (strict routing, §12.2.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sems_lite import randomness
from sems_lite.sip.address import Address, parse_address
from sems_lite.sip.cseq import CSeq
from sems_lite.sip.headers import Headers
from sems_lite.sip.message import Request, Response
from sems_lite.sip.uri import AbsoluteUri, SipUri
from sems_lite.sip.via import Via


def new_tag() -> str:
    return randomness.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + randomness.token_hex(8)


DialogId = tuple[str, str, str]


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_address: Address  # our URI as the peer sees it (To of the INVITE) with our tag
    remote_address: Address  # the peer's From, with its tag
    remote_target: SipUri | AbsoluteUri
    route_set: list[Address] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int = 0
    local_contact: str = ""
    transport: str = "udp"

    @classmethod
    def uas_from_invite(cls, req: Request, local_tag: str, local_contact: str, transport: str):
        contacts = req.contacts
        remote_target = contacts[0].uri if contacts else req.from_addr.uri
        route_set = [parse_address(v) for v in req.headers.get_all("Record-Route")]
        to = req.to_addr
        local = Address(to.uri, to.display_name, {**to.params, "tag": local_tag})
        return cls(
            call_id=req.call_id,
            local_tag=local_tag,
            remote_tag=req.from_addr.tag or "",
            local_address=local,
            remote_address=req.from_addr,
            remote_target=remote_target,
            route_set=route_set,
            # Our own CSeq space starts low and random-free: only monotonicity matters.
            local_cseq=1,
            remote_cseq=req.cseq.number,
            local_contact=local_contact,
            transport=transport,
        )

    @classmethod
    def uac_for_invite(cls, invite: Request, local_contact: str, transport: str) -> Dialog:
        """A dialog the box starts with `invite`; `confirm` completes it from the 2xx."""
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_addr.tag or "",
            remote_tag="",
            local_address=invite.from_addr,
            remote_address=invite.to_addr,
            remote_target=invite.uri,
            local_cseq=invite.cseq.number,
            local_contact=local_contact,
            transport=transport,
        )

    def confirm(self, response: Response) -> None:
        """The 2xx to our INVITE names the remote tag, target and route set (§12.1.2)."""
        self.remote_tag = response.to_addr.tag or ""
        self.remote_address = response.to_addr
        contacts = response.contacts
        if contacts:
            self.remote_target = contacts[0].uri
        self.route_set = [
            parse_address(v) for v in reversed(response.headers.get_all("Record-Route"))
        ]

    def create_ack(self, invite_cseq: int, via: Via, user_agent: str | None = None) -> Request:
        """The ACK for a 2xx: the INVITE's CSeq number, the local CSeq space untouched."""
        kept = self.local_cseq
        self.local_cseq = invite_cseq - 1
        try:
            return self.create_request("ACK", via, user_agent=user_agent)
        finally:
            self.local_cseq = kept

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    def accept_remote_cseq(self, req: Request) -> bool:
        """Check and record the CSeq of an in-dialog request (ACK and CANCEL reuse theirs)."""
        number = req.cseq.number
        if req.method in ("ACK", "CANCEL"):
            return True
        if number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def next_hop(self) -> SipUri | AbsoluteUri:
        """Where a request we send goes first: the first route, else the remote target."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    def create_request(
        self,
        method: str,
        via: Via,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
        user_agent: str | None = None,
    ) -> Request:
        self.local_cseq += 1
        routes = list(self.route_set)
        ruri = self.remote_target
        first = routes[0].uri if routes else None
        if isinstance(first, SipUri) and "lr" not in first.params:
            # Strict routing: the first route becomes the R-URI, the target goes last.
            ruri = first
            routes = [*routes[1:], Address(self.remote_target)]
        headers = Headers()
        headers.add("Via", str(via))
        headers.add("Max-Forwards", "70")
        for route in routes:
            headers.add("Route", str(route))
        headers.add("From", str(self.local_address))
        headers.add("To", str(self.remote_address))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", str(CSeq(self.local_cseq, method)))
        if self.local_contact:
            headers.add("Contact", self.local_contact)
        if user_agent:
            headers.add("User-Agent", user_agent)
        for name, value in extra_headers or ():
            headers.add(name, value)
        if content_type:
            headers.add("Content-Type", content_type)
        return Request(method, ruri, headers, body)
