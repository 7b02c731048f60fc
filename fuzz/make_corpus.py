"""Write the hand-built seeds of fuzz/corpus/ (the RFC 4475 messages are copied as files).

    python fuzz/make_corpus.py        # rewrites fuzz/corpus/rtp/* and fuzz/corpus/sip/x-*

The seeds are built with the project's own serializers, so they stay valid when those
change; the output is deterministic (fixed values, no clock, no randomness).
"""

from __future__ import annotations

from pathlib import Path

from sems_lite.rtp.dtmf import build_event
from sems_lite.rtp.packet import RtpPacket
from sems_lite.rtp.rtcp import Bye, ReportBlock, build_rr_sdes, build_sr_sdes, serialize_compound
from sems_lite.sip.auth import DigestAuthenticator, _hex, digest_response

HERE = Path(__file__).resolve().parent
CRLF = "\r\n"

OFFER = CRLF.join(
    (
        "v=0",
        "o=- 1409412447 3361458937 IN IP4 192.0.2.23",
        "s=-",
        "c=IN IP4 192.0.2.23",
        "t=0 0",
        "m=audio 10368 RTP/AVP 111 0 8 101",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 stereo=1;sprop-stereo=1",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=rtcp-mux",
        "a=sendrecv",
        "m=video 0 RTP/AVP 96",
        "",
    )
)


def rtp_seeds() -> dict[str, bytes]:
    report = ReportBlock(0x2222, 3, 17, 0x10005, 40, 0x12345678, 0x10000)
    event = build_event
    return {
        "rtp-pcmu": RtpPacket(0, 1000, 160000, 0x11111111, bytes(range(160))).serialize(),
        "rtp-marker-csrc": RtpPacket(
            8, 65535, 0xFFFFFF60, 0x1, b"\xd5" * 160, marker=True, csrcs=[7, 8]
        ).serialize(),
        "rtp-extension-padding": RtpPacket(
            0, 7, 7, 7, b"\xff" * 20, extension=(0xBEDE, b"\x10\x01\x00\x00"), padding=4
        ).serialize(),
        "rtp-empty-payload": RtpPacket(13, 3, 3, 3).serialize(),
        # telephone-event: the fuzz target reads 8-byte records (timestamp, payload).
        "dtmf-records": b"".join(
            ts.to_bytes(4, "big") + event(digit, end, 10, duration)
            for ts, digit, end, duration in (
                (800, 1, False, 160),
                (800, 1, False, 320),
                (800, 1, True, 480),
                (800, 1, True, 480),
                (2400, 11, False, 160),
                (4000, 16, True, 800),
                (5600, 3, False, 65535),
            )
        ),
        "dtmf-rtp": RtpPacket(101, 5, 800, 9, event(5, True, 10, 800), marker=True).serialize(),
        "rtcp-sr-sdes": build_sr_sdes(
            0x11111111, 0xE0000000_80000000, 160000, 50, 8000, b"box@192.0.2.1", (report,)
        ),
        "rtcp-rr-sdes-bye": build_rr_sdes(0x3333, b"phone", (report,))
        + serialize_compound([Bye((0x3333,), b"bye now")]),
        "sdp-offer": OFFER.encode(),
    }


def sip_seeds() -> dict[str, bytes]:
    realm, nonce = "fuzz", "0" * 43  # the fuzz target's realm; nonce is not one we issued
    challenge = DigestAuthenticator(realm, {}, secret=b"k" * 32, clock=lambda: 0.0).challenge()
    ha1 = _hex("SHA-256", f"alice:{realm}:secret")
    response = digest_response(
        "SHA-256", ha1, "INVITE", "sip:echo@192.0.2.1", nonce, nc="00000001", cnonce="c", qop="auth"
    )
    invite = (
        "INVITE sip:echo@192.0.2.1 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK776asdhds;rport",
        "Max-Forwards: 70",
        "To: <sip:echo@192.0.2.1>",
        'From: "Alice" <sip:alice@192.0.2.9>;tag=1928301774',
        "Call-ID: a84b4c76e66710@192.0.2.9",
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@192.0.2.9>",
        "Supported: timer, 100rel",
        "x: 1800;refresher=uac",
        "Min-SE: 90",
        f'Authorization: Digest username="alice", realm="{realm}", nonce="{nonce}", '
        f'uri="sip:echo@192.0.2.1", response="{response}", algorithm=SHA-256, '
        'qop=auth, nc=00000001, cnonce="c", opaque="x"',
        "Content-Type: application/sdp",
    )
    body = OFFER.encode()
    head = CRLF.join((*invite, f"Content-Length: {len(body)}", "", "")).encode()
    unauthorized = CRLF.join(
        (
            "SIP/2.0 401 Unauthorized",
            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx",
            "To: <sip:a@b>;tag=2",
            "From: <sip:a@b>;tag=1",
            "Call-ID: c",
            "CSeq: 1 INVITE",
            *(f"{name}: {value}" for name, value in challenge),
            "Content-Length: 0",
            "",
            "",
        )
    ).encode()
    return {"x-invite-auth-timer.dat": head + body, "x-401-challenge.dat": unauthorized}


def main() -> None:
    for folder, seeds in (("rtp", rtp_seeds()), ("sip", sip_seeds())):
        target = HERE / "corpus" / folder
        target.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (target / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds written")


if __name__ == "__main__":
    main()
