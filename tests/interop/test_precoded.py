"""`precoded_announce`: a prompt stored as raw G.711 (default.pcmu / default.pcma) is
sent without transcoding when the call's codec is the file's law — the RTP payloads,
in sequence order, are the file's bytes."""

from __future__ import annotations

import pytest

from ._announce import LAW_OF_PT, PROMPTS, SILENCE, announce_call, app_box_config

pytestmark = pytest.mark.interop

FRAME_OCTETS = 160  # 20 ms of G.711 at 8 kHz


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_precoded_payloads_are_the_file(box, start_sipp, law):
    b = box({**app_box_config("precoded_announce", "precoded"), "codecs": [law, "telephone-event"]})
    rec, sipp = announce_call(b, start_sipp, "precoded")
    packets = rec.rtp()
    assert packets, f"no RTP from the box\n{sipp.describe()}"
    pts = {a.packet.pt for a in packets}
    assert {LAW_OF_PT.get(pt) for pt in pts} == {law}, f"payload types {sorted(pts)}"
    assert sipp.log_times("BYE"), "the box did not hang up after the prompt"
    # Order by RTP sequence number (loopback does not reorder, but be exact about it).
    seqs = [a.packet.seq for a in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))], "sequence gaps"
    sent = b"".join(a.packet.payload for a in packets)
    want = (PROMPTS / f"default.{law.lower()}").read_bytes()
    # The last packet may be cut short or padded to a full frame with the law's silence.
    pad = sent[len(want) :]
    first_diff = next((i for i, (x, y) in enumerate(zip(sent, want, strict=False)) if x != y), None)
    assert first_diff is None and len(sent) >= len(want), (
        f"payloads differ from default.{law.lower()}: {len(sent)} octets sent, file has "
        f"{len(want)}, first difference at octet {first_diff}"
    )
    assert len(pad) < FRAME_OCTETS and pad == SILENCE[law] * len(pad), (
        f"{len(pad)} octets after the file's end, want < {FRAME_OCTETS} of {law} silence"
    )
