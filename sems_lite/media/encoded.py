"""Cached prompts encoded once per G.711 law, for streams that send them as stored.

A prompt's PCM lives in the `PromptCache`; a stream whose frames go out through the
batched send (rtp/tx_batch.py) needs the same audio already encoded. G.711 works sample
by sample, so encoding the whole prompt once and slicing it gives exactly the octets of
encoding it frame by frame. Entries are keyed by the PCM object itself (held here, so its
id cannot be reused) and bounded in number and bytes.
"""

from __future__ import annotations

from collections import OrderedDict

from sems_lite import native

ENCODERS = {"PCMU": native.ulaw_encode, "PCMA": native.alaw_encode}
_MAX_ENTRIES = 16
_MAX_BYTES = 2 << 20  # encoded octets; the PCM held alongside is twice that at most

_memo: OrderedDict[tuple[int, str], tuple[bytes, bytes]] = OrderedDict()
_size = 0


def encoded_prompt(pcm: bytes, encoding: str) -> bytes | None:
    """`pcm` (a cached prompt) in `encoding`, or None for a codec not encoded this way."""
    global _size
    encode = ENCODERS.get(encoding)
    if encode is None or len(pcm) // 2 > _MAX_BYTES:
        return None
    key = (id(pcm), encoding)
    entry = _memo.get(key)
    if entry is not None and entry[0] is pcm:
        _memo.move_to_end(key)
        return entry[1]
    data = encode(bytes(pcm))
    _memo[key] = (pcm, data)
    _size += len(data)
    while _size > _MAX_BYTES or len(_memo) > _MAX_ENTRIES:
        _, (_, dropped) = _memo.popitem(last=False)
        _size -= len(dropped)
    return data
