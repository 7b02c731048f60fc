"""The CSeq header (RFC 3261 §20.16): a 31-bit sequence number and a method."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sems_lite.sip.errors import SipParseError

__all__ = ["MAX_CSEQ", "CSeq", "parse_cseq"]

MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: the number must fit in 32 bits and be < 2**31
# Ten digits at most before int(): longer numbers are out of range anyway, and this
# keeps a hostile 5000-digit value away from int()'s own length limit.
_CSEQ = re.compile(r"[ \t]*([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(text: str) -> CSeq:
    match = _CSEQ.fullmatch(text)
    if match is None:
        raise SipParseError("Malformed CSeq header")
    number = int(match.group(1))
    if number > MAX_CSEQ:
        raise SipParseError("CSeq number out of range")
    return CSeq(number, match.group(2))
