"""Signalling-path cost: parse an INVITE and read the fields the UA uses, per message.

Run: .venv/bin/python bench/sip_parse.py   (prints one JSON line)
"""

from __future__ import annotations

import json
import sys
import time

from sems_lite.sip.message import parse_message
from sems_lite.sip.validate import check_request

INVITE = (
    b"INVITE sip:echo@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport\r\n"
    b'From: "sipp" <sip:sipp@127.0.0.1:5061>;tag=abc\r\n'
    b"To: <sip:echo@127.0.0.1:5060>\r\nCall-ID: 1-2@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:sipp@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n"
)


def per_message(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def parse_and_read() -> None:
    msg = parse_message(INVITE)
    _ = (msg.vias, msg.cseq, msg.from_addr, msg.to_addr, msg.call_id)


def parse_and_check() -> None:
    check_request(parse_message(INVITE))  # type: ignore[arg-type]


def main() -> int:
    n = 20000
    parse_and_read()
    result = {
        "bench": "sip_parse",
        "parse_and_read_us": round(min(per_message(parse_and_read, n) for _ in range(3)), 2),
        "parse_and_check_us": round(min(per_message(parse_and_check, n) for _ in range(3)), 2),
        "python": sys.version.split()[0],
        "cmd": ".venv/bin/python bench/sip_parse.py",
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
