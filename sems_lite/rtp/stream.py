"""One RTP stream: a socket pair, the negotiated codec, and the per-tick receive/transmit.

Hot path rules (DESIGN.md §7): no object per packet; `recvfrom_into` a preallocated
buffer; the header is walked with integer reads; decode/encode are single kernel calls.
Symmetric RTP: we send to where the peer's packets come from (NAT), starting with the
SDP address until the first packet arrives.

Per tick (`receive` then `transmit`, called by the engine):
- receive drains the socket into the jitter buffer (audio) or the telephone-event
  receiver (RFC 4733), plays one frame out of the jitter buffer (concealing a single
  loss), hands the PCM to the sink and, when the peer has no telephone-event, to the
  in-band DTMF detector; RTCP is answered and sent on its own schedule (RFC 3550);
- transmit takes one frame from the source (or an RFC 4733 event being sent), encodes it
  and sends it, timestamped on the tick grid.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from array import array
from collections.abc import Callable
from typing import Protocol

from sems_lite import native, randomness
from sems_lite.media.buffers import EchoBuffer
from sems_lite.media.codecs import AudioCodec, audio_codec
from sems_lite.rtp.dtmf import EVENTS, TelephoneEventReceiver, TelephoneEventSender
from sems_lite.rtp.echo_batch import MAX_FRAME as ECHO_MAX_FRAME
from sems_lite.rtp.echo_batch import MAX_FRAMES as ECHO_MAX_FRAMES
from sems_lite.rtp.echo_batch import EchoBatch
from sems_lite.rtp.jitter import CONCEALED, EMPTY, JitterBuffer, conceal
from sems_lite.rtp.packet import payload_offset
from sems_lite.rtp.rtcp import RtcpError, RtcpSession
from sems_lite.rtp.tx_batch import TxBatch, peer_address
from sems_lite.sdp.offer_answer import NegotiatedStream

log = logging.getLogger("sems_lite.rtp")

_HEADER = struct.Struct("!BBHII")

try:  # FIONREAD says whether another datagram is queued: cheaper than a recv that fails
    from fcntl import ioctl as _ioctl
    from termios import FIONREAD as _FIONREAD
except ImportError:  # a Python built without termios: the failing recv ends the drain
    _ioctl = None  # type: ignore[assignment]
    _FIONREAD = 0
SK_RTP_MAX_PAYLOAD = 1200  # as in native/sems_kernels.h
_MAX_PACKETS_PER_TICK = 16  # bounds the work one stream can cause in one tick


class AudioSink(Protocol):
    def write(self, pcm: bytes) -> None: ...


class AudioSource(Protocol):
    def read(self, nbytes: int) -> bytes | None: ...


DtmfHandler = Callable[[str, int], None]


class LeasedItem(Protocol):
    """A source item whose stored frames a stream sends through the batched send."""

    def lease_ended(self, frames: int) -> None: ...


class RtpStream:
    __slots__ = (
        "_batch",
        "_buf",
        "_echo",
        "_echo_slot",
        "_fd",
        "_foreign_packets",
        "_header",
        "_last_pcm",
        "_last_rx",
        "_last_ts",
        "_lease_leaf",
        "_lease_payload",
        "_lease_slot",
        "_octets_out",
        "_packets_in",
        "_packets_out",
        "_queued",
        "_sink",
        "_source",
        "clock_rate",
        "codec",
        "direct",
        "dtmf_detector",
        "dtmf_receiver",
        "dtmf_sender",
        "frame_bytes",
        "inband_dtmf",
        "jitter",
        "jitter_max_frames",
        "jitter_min_frames",
        "latched",
        "local_port",
        "on_dtmf",
        "payload_type",
        "receiving",
        "remote",
        "remote_rtcp",
        "remote_ssrc",
        "rtcp",
        "rtcp_mux",
        "rtcp_sock",
        "sending",
        "sequence",
        "sock",
        "ssrc",
        "talking",
        "te_base",
        "telephone_event_pt",
        "ts_base",
    )

    def __init__(
        self,
        sock: socket.socket,
        rtcp_sock: socket.socket,
        local_port: int,
        on_dtmf: DtmfHandler | None = None,
        jitter_min_frames: int = 1,
        jitter_max_frames: int = 10,
    ) -> None:
        self.sock = sock
        self.rtcp_sock = rtcp_sock
        self.local_port = local_port
        self.on_dtmf = on_dtmf
        self.jitter_min_frames = jitter_min_frames
        self.jitter_max_frames = max(jitter_min_frames, jitter_max_frames)
        # No playout delay wanted (echo): packets go to the sink as they arrive, in
        # arrival order; the jitter buffer then only keeps the statistics for RTCP.
        self.direct = jitter_max_frames == 0
        self._buf = bytearray(2048)
        self._fd = sock.fileno()
        self._queued = array("i", [0])
        self._header = bytearray(12)
        self._last_pcm = b""
        self.ssrc = randomness.randbits(32)
        self.sequence = randomness.randbits(16)
        self.ts_base = randomness.randbits(32)
        self.codec: AudioCodec | None = None
        self.clock_rate = 8000
        self.payload_type = 0
        self.telephone_event_pt: int | None = None
        self.frame_bytes = 320
        self.jitter: JitterBuffer | None = None
        self.dtmf_receiver: TelephoneEventReceiver | None = None
        self.dtmf_detector: native.DtmfDetector | None = None
        # Listen for DTMF tones in the audio when the peer has no RFC 4733 (an app that
        # takes no digits, like echo, switches this off: the detector is a tenth of the
        # per-packet cost).
        self.inband_dtmf = True
        self.dtmf_sender: TelephoneEventSender | None = None
        self.te_base: int | None = None
        self._last_ts = 0
        self.remote: tuple | None = None
        self.remote_rtcp: tuple | None = None
        self.remote_ssrc: int | None = None
        self.latched = False
        self.rtcp_mux = False
        self.sending = True
        self.receiving = True
        self.talking = False
        self._last_rx = 0.0
        self._packets_in = 0
        self._foreign_packets = 0  # dropped: not from the latched source
        self._packets_out = 0
        self._octets_out = 0
        self.rtcp = RtcpSession(self.ssrc, f"sems_lite@{local_port}")
        self._sink: AudioSink | None = None
        self._source: AudioSource | None = None
        # The batched send (rtp/tx_batch.py), given by the engine; while a slot there is
        # armed, C sends this stream's frames straight from its source's stored audio.
        self._batch: TxBatch | None = None
        self._lease_slot: int | None = None
        self._lease_leaf: LeasedItem | None = None
        self._lease_payload = 0
        # The batched echo (rtp/echo_batch.py): while a slot there is armed, C receives
        # this stream's packets and sends them back; Python takes over for anything else.
        self._echo: EchoBatch | None = None
        self._echo_slot: int | None = None

    # -- what is sent, and the lease of it to the batched send ---------------------------
    @property
    def source(self) -> AudioSource | None:
        return self._source

    @source.setter
    def source(self, value: AudioSource | None) -> None:
        if self._lease_slot is not None or self._echo_slot is not None:
            self.end_lease()
        self._source = value

    @property
    def sink(self) -> AudioSink | None:
        return self._sink

    @sink.setter
    def sink(self, value: AudioSink | None) -> None:
        if self._echo_slot is not None:
            self.end_lease()
        self._sink = value

    def _sent_in_c(self) -> tuple[int, int]:
        """(packets sent, last timestamp or -1) by the slot leasing this stream, if any."""
        if self._lease_slot is not None:
            ok, last_ts, done = self._batch.sent(self._lease_slot)  # type: ignore[union-attr]
            return ok, last_ts if done else -1
        if self._echo_slot is not None:
            live = self._echo.live(self._echo_slot)  # type: ignore[union-attr]
            return live[1], live[4] if live[1] else -1
        return 0, -1

    @property
    def packets_out(self) -> int:
        return self._packets_out + self._sent_in_c()[0]

    @property
    def octets_out(self) -> int:
        return self._octets_out + self._sent_in_c()[0] * self._lease_payload

    @property
    def last_ts(self) -> int:
        """The timestamp of the last packet sent."""
        last_ts = self._sent_in_c()[1]
        return self._last_ts if last_ts < 0 else last_ts

    @property
    def packets_in(self) -> int:
        if self._echo_slot is None:
            return self._packets_in
        return self._packets_in + self._echo.live(self._echo_slot)[0]  # type: ignore[union-attr]

    @property
    def foreign_packets(self) -> int:
        """Packets dropped: not from the latched source."""
        if self._echo_slot is None:
            return self._foreign_packets
        return self._foreign_packets + self._echo.live(self._echo_slot)[2]  # type: ignore[union-attr]

    @property
    def last_rx(self) -> float:
        """When the last packet from the peer arrived (loop time)."""
        if self._echo_slot is None:
            return self._last_rx
        return max(self._last_rx, self._echo.live(self._echo_slot)[3])  # type: ignore[union-attr]

    @last_rx.setter
    def last_rx(self, value: float) -> None:
        self._last_rx = value

    def attach_batch(self, batch: TxBatch | None, echo: EchoBatch | None = None) -> None:
        """The engine's batched send and batched echo (None: Python only)."""
        self.end_lease()
        self._batch = batch
        self._echo = echo

    def end_lease(self, now: float | None = None) -> None:
        """Take the stream back from the batched send or echo: sequence, counters, and
        the source's position carry on from what C did. `now`: when C last ran (the
        arrival time of a packet it held for Python)."""
        if self._echo_slot is not None:
            self._end_echo(now)
        index = self._lease_slot
        if index is None:
            return
        self._lease_slot = None
        taken = self._batch.release(index)  # type: ignore[union-attr]
        self.sequence = taken.seq
        self._packets_out += taken.packets_ok
        self._octets_out += taken.packets_ok * self._lease_payload
        if taken.frames_done:
            self._last_ts = taken.last_ts
        leaf = self._lease_leaf
        self._lease_leaf = None
        if leaf is not None:
            leaf.lease_ended(taken.frames_done)

    def _end_echo(self, now: float | None) -> None:
        index = self._echo_slot
        self._echo_slot = None
        taken = self._echo.release(index)  # type: ignore[union-attr]
        self.sequence = taken.seq
        self._packets_out += taken.packets_ok
        self._octets_out += taken.packets_ok * self._lease_payload
        if taken.packets_ok:
            self._last_ts = taken.last_ts
        self.talking = taken.talking
        self._packets_in += taken.received
        self._foreign_packets += taken.foreign
        if taken.received:
            self._last_rx = max(self._last_rx, taken.last_rx)
        if self.jitter is not None:
            self.jitter.absorb(taken.received, taken.max_ext, taken.transit, taken.jitter16)
        sink = self._sink
        if isinstance(sink, EchoBuffer):
            sink.dropped_bytes += taken.dropped * self.frame_bytes
        for frame in taken.frames:  # heard, not yet sent back: the Python path sends them
            self._deliver(self.codec.decode(frame))  # type: ignore[union-attr]
        held = taken.held
        if held is not None:
            # The packet C left for Python, read as if it had just arrived.
            self._buf[: len(held)] = held
            arrival = taken.last_rx if now is None else now
            self._take(len(held), self.remote, arrival, self.jitter)

    def _lend_echo(self, source: AudioSource) -> None:
        """After a tick in Python: hand an echo stream to the batched echo if nothing
        about it needs Python now."""
        codec = self.codec
        jitter = self.jitter
        if (
            source is not self._sink
            or not isinstance(source, EchoBuffer)
            or len(source)  # frames still queued in Python go out from Python first
            or not (self.direct and self.receiving and self.latched)
            or self.dtmf_detector is not None
            or (self.dtmf_sender is not None and self.dtmf_sender.active)
            # an event without its end packets is expired by Python's receive
            or (self.dtmf_receiver is not None and not self.dtmf_receiver.idle)
            or self.remote_ssrc is None
            or codec is None
            or jitter is None
            or self.remote is None
        ):
            return
        state = jitter.reception_state()
        if state is None:
            return
        samples = self.frame_bytes >> 1
        payload_len = samples * codec.bytes_per_sample
        depth = source.max_bytes // self.frame_bytes
        if (
            not 0 < depth <= ECHO_MAX_FRAMES
            or payload_len > ECHO_MAX_FRAME
            or self.clock_rate % 8000  # C counts arrival in 8 kHz units
        ):
            return
        peer = peer_address(self.sock.family, self.remote)
        if peer is None:
            return
        max_ext, transit, jitter16 = state
        self._lease_payload = payload_len
        self._echo_slot = self._echo.arm(  # type: ignore[union-attr]
            self,
            fd=self._fd,
            peer=peer,
            depth=depth,
            payload_len=payload_len,
            samples=samples,
            units_per_8k=self.clock_rate // 8000,
            ts_base=self.ts_base,
            ssrc=self.ssrc,
            remote_ssrc=self.remote_ssrc,
            seq=self.sequence,
            pt=self.payload_type,
            talking=self.talking,
            max_ext=max_ext,
            transit=transit,
            jitter16=jitter16,
            last_rx=self._last_rx,
        )

    def _lease(self, source: AudioSource, samples: int) -> None:
        """After a frame sent from Python: lease the source's next stored frames to the
        batched send, if it has any in this call's encoding."""
        offer = getattr(source, "lease_frames", None)
        if offer is None or self.remote is None:
            return
        peer = peer_address(self.sock.family, self.remote)
        if peer is None:
            return
        got = offer(self.codec.spec.name, samples, self)  # type: ignore[union-attr]
        if got is None:
            return
        leaf, data, offset = got
        frames = (len(data) - offset) // samples  # G.711: an octet per sample
        if frames < 1 or samples > SK_RTP_MAX_PAYLOAD:
            leaf.lease_ended(0)
            return
        self._lease_leaf = leaf
        self._lease_payload = samples
        self._lease_slot = self._batch.arm(  # type: ignore[union-attr]
            self,
            fd=self._fd,
            peer=peer,
            data=data,
            offset=offset,
            frames=frames,
            payload_len=samples,
            samples=samples,
            ts_base=self.ts_base,
            ssrc=self.ssrc,
            seq=self.sequence,
            b1=self.payload_type,
        )

    # -- negotiation -----------------------------------------------------------------------
    def configure(self, negotiated: NegotiatedStream, engine_ptime_ms: int) -> None:
        """Apply an offer/answer result (initial, re-INVITE, codec change, hold)."""
        self.end_lease()
        codec = audio_codec(negotiated.codec)
        rate = negotiated.codec.clock_rate
        frame_samples = rate * engine_ptime_ms // 1000
        if self.jitter is None or rate != self.clock_rate or codec is not self.codec:
            self.jitter = JitterBuffer(
                frame_samples,
                rate,
                min_delay_frames=self.jitter_min_frames,
                max_delay_frames=self.jitter_max_frames,
            )
            self.dtmf_receiver = TelephoneEventReceiver(rate)
        self.codec = codec
        self.clock_rate = rate
        self.payload_type = negotiated.payload_type
        self.frame_bytes = frame_samples * 2
        self.telephone_event_pt = negotiated.telephone_event_pt
        self._update_detector()
        self.rtcp_mux = negotiated.rtcp_mux
        direction = negotiated.direction
        self.sending = direction in ("sendrecv", "sendonly")
        self.receiving = direction in ("sendrecv", "recvonly")
        if negotiated.remote_address and negotiated.remote_port:
            sdp_remote = self._sockaddr(negotiated.remote_address, negotiated.remote_port)
            if not self.latched or sdp_remote != self.remote:
                # A new SDP address (re-INVITE) is taken until packets show otherwise.
                self.remote = sdp_remote
                self.latched = False
                self.remote_rtcp = self._rtcp_addr(sdp_remote)
        elif not self.latched:
            self.remote = None

    def want_inband_dtmf(self, wanted: bool) -> None:
        self.end_lease()
        self.inband_dtmf = wanted
        if self.codec is not None:
            self._update_detector()

    def _update_detector(self) -> None:
        # No RFC 4733 from this peer: listen for tones in the audio instead, if wanted.
        wanted = self.inband_dtmf and self.telephone_event_pt is None
        if not wanted or self.clock_rate not in (8000, 16000):
            self.dtmf_detector = None
        elif self.dtmf_detector is None:
            self.dtmf_detector = native.DtmfDetector(self.clock_rate)

    def set_jitter_limits(self, min_frames: int, max_frames: int) -> None:
        """New playout delay bounds (an app taking over the call); applies at once."""
        self.end_lease()
        self.jitter_min_frames = min_frames
        self.jitter_max_frames = max(min_frames, max_frames)
        self.direct = max_frames == 0
        if self.jitter is not None:
            self.jitter = JitterBuffer(
                self.frame_bytes >> 1,
                self.clock_rate,
                min_delay_frames=self.jitter_min_frames,
                max_delay_frames=self.jitter_max_frames,
            )

    def _sockaddr(self, host: str, port: int) -> tuple:
        if self.sock.family == socket.AF_INET6:
            if ":" not in host:
                host = "::ffff:" + host
            return (host, port, 0, 0)
        return (host, port)

    def _rtcp_addr(self, rtp_addr: tuple) -> tuple:
        if self.rtcp_mux:
            return rtp_addr
        return (rtp_addr[0], rtp_addr[1] + 1, *rtp_addr[2:])

    # -- the tick --------------------------------------------------------------------------
    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, now: float, readable: bool = True) -> None:
        """Drain the socket (unless the engine saw it empty), then play one frame out of
        the jitter buffer into the sink."""
        if self._echo_slot is not None:
            next_rtcp = self.rtcp.next_send
            if next_rtcp is not None and now < next_rtcp:
                return  # the batched echo receives; nothing else is due
            self.end_lease(now)  # a report is due: its statistics are Python's again
        jitter = self.jitter
        if readable:
            self._drain(now, jitter)
        # A peer that has sent nothing yet (an announcement's silent caller) has nothing
        # to play out or expire.
        if self._packets_in:
            if self.dtmf_receiver is not None:
                digit = self.dtmf_receiver.expire(now)
                if digit is not None:
                    self._dtmf(*digit)
            if jitter is not None:
                if self.direct:
                    jitter.get()  # keeps its statistics (RTCP) current; playout already done
                else:
                    self._play_out(jitter)
        next_rtcp = self.rtcp.next_send
        if next_rtcp is None or now >= next_rtcp:
            self._send_rtcp(now)

    def _drain(self, now: float, jitter: JitterBuffer | None) -> None:
        sock = self.sock
        buf = self._buf
        queued = self._queued
        for count in range(_MAX_PACKETS_PER_TICK):
            if count and _ioctl is not None:
                try:
                    _ioctl(self._fd, _FIONREAD, queued, True)
                except OSError:
                    break
                if not queued[0]:
                    break  # drained; a zero-length datagram waits for the next tick
            try:
                length, addr = sock.recvfrom_into(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # ICMP port unreachable from an earlier send surfaces here; keep going.
                continue
            self._take(length, addr, now, jitter)

    def _take(self, length: int, addr: tuple, now: float, jitter: JitterBuffer | None) -> None:
        """One received packet, in the receive buffer."""
        buf = self._buf
        b1 = buf[1] if length > 1 else 0
        if self.rtcp_mux and 192 <= b1 <= 223:
            self._take_rtcp(bytes(buf[:length]), now)
            return
        start, end = payload_offset(buf, length)
        if start < 0:
            return
        if addr != self.remote:
            if self.latched:
                # Strict latching: once learned, other sources are dropped, so a
                # guessed port cannot steal or inject the call's audio ("RTP bleed").
                # A new SDP address (re-INVITE) re-opens learning.
                self._foreign_packets += 1
                return
            # Symmetric RTP: learn the source of the peer's first packet (NAT).
            self.end_lease()
            self.remote = addr
            self.remote_rtcp = self._rtcp_addr(addr)
        self.latched = True
        self._last_rx = now
        self._packets_in += 1
        ssrc = (buf[8] << 24) | (buf[9] << 16) | (buf[10] << 8) | buf[11]
        if ssrc != self.remote_ssrc:
            self._new_source(ssrc)
        pt = b1 & 0x7F
        seq = (buf[2] << 8) | buf[3]
        timestamp = (buf[4] << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]
        if pt == self.payload_type and jitter is not None:
            payload = bytes(buf[start:end])
            jitter.put(seq, timestamp, payload, now, bool(b1 & 0x80))
            if self.direct:
                self._deliver(self.codec.decode(payload))  # type: ignore[union-attr]
        elif pt == self.telephone_event_pt and self.dtmf_receiver is not None:
            digit = self.dtmf_receiver.packet(
                bytes(buf[start:end]), timestamp, bool(b1 & 0x80), now
            )
            if digit is not None:
                self._dtmf(*digit)

    def _play_out(self, jitter: JitterBuffer) -> None:
        payload, kind = jitter.get()
        if kind == EMPTY:
            return
        if kind == CONCEALED:
            if not self._last_pcm:
                return
            pcm = conceal(self._last_pcm, jitter.conceal_attempt)
        else:
            assert self.codec is not None and payload is not None
            pcm = self.codec.decode(payload)
            self._last_pcm = pcm
        self._deliver(pcm)

    def _deliver(self, pcm: bytes) -> None:
        if self.receiving and self.sink is not None:
            self.sink.write(pcm)
        if self.dtmf_detector is not None:
            for digit, duration in self.dtmf_detector.feed(pcm):
                self._dtmf(digit, duration)

    def _new_source(self, ssrc: int) -> None:
        self.remote_ssrc = ssrc
        if self.jitter is not None:
            self.jitter.reset()
        if self.dtmf_receiver is not None:
            self.dtmf_receiver.reset()

    def _dtmf(self, digit: str, duration_ms: int) -> None:
        if self.on_dtmf is not None:
            self.on_dtmf(digit, duration_ms)

    def transmit(self, tick: int) -> None:
        """Send one frame from the source (or an RFC 4733 event), on the tick grid."""
        if self._lease_slot is not None or self._echo_slot is not None:
            return  # the batched send or echo has sent it (MediaEngine runs them first)
        remote = self.remote
        if remote is None or not self.sending or self.codec is None:
            self.talking = False
            return
        samples = self.frame_bytes >> 1
        timestamp = (self.ts_base + tick * samples) & 0xFFFFFFFF
        sender = self.dtmf_sender
        if sender is not None and sender.active and self.telephone_event_pt is not None:
            self._transmit_event(sender, timestamp, remote)
            return
        source = self.source
        if source is None:
            self.talking = False
            return
        if getattr(source, "encoding", None) == self.codec.spec.name:
            payload = source.read_encoded(samples)  # type: ignore[attr-defined]
        else:
            frame = source.read(self.frame_bytes)
            payload = self.codec.encode(frame) if frame else None
        if payload:
            marker = 0 if self.talking else 0x80
            self.talking = True
            self._send(marker | self.payload_type, timestamp, payload, remote)
        else:
            self.talking = False
        if self._echo is not None and source is self._sink:
            self._lend_echo(source)
        elif payload and self._batch is not None:
            self._lease(source, samples)

    def _transmit_event(self, sender: TelephoneEventSender, timestamp: int, remote: tuple) -> None:
        if self.te_base is None:
            self.te_base = timestamp  # the event timestamps count from the burst's first tick
        base = self.te_base
        packet = sender.next_packet()
        if not sender.active:
            self.te_base = None
        if packet is None:
            return
        payload, marker, offset = packet
        assert self.telephone_event_pt is not None
        event_ts = (base + offset) & 0xFFFFFFFF
        self._send((0x80 if marker else 0) | self.telephone_event_pt, event_ts, payload, remote)
        self.talking = False  # audio after the event starts a new talk spurt

    def _send(self, b1: int, timestamp: int, payload: bytes, remote: tuple) -> None:
        header = self._header
        _HEADER.pack_into(header, 0, 0x80, b1, self.sequence, timestamp, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self._last_ts = timestamp
        try:
            self.sock.sendto(header + payload, remote)
            self._packets_out += 1
            self._octets_out += len(payload)
        except OSError as exc:
            log.debug("RTP send to %s failed: %s", remote, exc)

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> bool:
        """Queue an RFC 4733 digit; False if the peer did not negotiate telephone-event."""
        if self.telephone_event_pt is None or digit.upper() not in EVENTS:
            return False
        self.end_lease()
        if self.dtmf_sender is None:
            self.dtmf_sender = TelephoneEventSender(self.clock_rate, self.frame_bytes >> 1)
        self.dtmf_sender.start(digit, duration_ms)
        return True

    # -- RTCP ------------------------------------------------------------------------------
    def _send_rtcp(self, now: float) -> None:
        if self.remote_rtcp is None:
            return
        data = self.rtcp.poll(
            now,
            time.time(),
            self.packets_out,
            self.octets_out,
            self.last_ts,  # within a tick of now: close enough for the SR's RTP time
            self.jitter,
            self.remote_ssrc,
        )
        if data is None:
            return
        sock = self.sock if self.rtcp_mux else self.rtcp_sock
        try:
            sock.sendto(data, self.remote_rtcp)
        except OSError as exc:
            log.debug("RTCP send to %s failed: %s", self.remote_rtcp, exc)

    def drain_rtcp(self) -> None:
        """Readable RTCP socket (non-muxed): take the peer's reports."""
        for _ in range(_MAX_PACKETS_PER_TICK):
            try:
                data, addr = self.rtcp_sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.remote_rtcp = addr
            self._take_rtcp(data, time.monotonic())

    def _take_rtcp(self, data: bytes, now: float) -> None:
        try:
            self.rtcp.receive(data, now)
        except RtcpError as exc:
            log.debug("bad RTCP packet: %s", exc)

    def close(self) -> None:
        self.end_lease()
        self.sock.close()
        self.rtcp_sock.close()
