"""A lossy UDP relay for the interop tests, and a paced sender for prepared RTP schedules.

The relay sits between the test's RTP socket and the box: what the test sends to
`relay.address` goes on to the box from the relay's own socket (the box latches to it),
with packets dropped and adjacent packets swapped by a seeded random.Random, so a run is
repeatable. Which packets suffer is decided by arrival index only, so `Impairment.preview`
tells a test in advance exactly what the relay will do to the same packet sequence.
What the box sends back goes to the test's address unharmed.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import threading
import time
from collections.abc import Callable

from ._net import family_of

PTIME = 0.020
_HOLD_FLUSH = 0.1  # a packet held for a swap goes out anyway after this long alone
_JOIN_TIMEOUT = 2.0


class Impairment:
    """Per packet (by arrival index): drop with probability `loss`, else with probability
    `swap` hold it back and send it right after the next packet that is forwarded.

    Sans-IO: `feed()` returns the packets to send now, in order.
    """

    def __init__(self, seed: int, loss: float = 0.05, swap: float = 0.05) -> None:
        if loss < 0 or swap < 0 or loss + swap > 1:
            raise ValueError(f"bad loss/swap probabilities: {loss}, {swap}")
        self.seed = seed
        self.loss = loss
        self.swap = swap
        self._rng = random.Random(seed)
        self._count = 0
        self._held: tuple[int, bytes] | None = None
        self.dropped: list[int] = []  # arrival indices
        self.delayed: list[int] = []  # indices held back behind a later packet
        self.order: list[int] = []  # indices in the order they were sent on

    def feed(self, data: bytes) -> list[bytes]:
        index = self._count
        self._count += 1
        r = self._rng.random()
        if r < self.loss:
            self.dropped.append(index)
            return []
        if self._held is None and r < self.loss + self.swap:
            self._held = (index, data)
            self.delayed.append(index)
            return []
        out = [data]
        self.order.append(index)
        out += self.flush()
        return out

    def flush(self) -> list[bytes]:
        """Release a held packet (no later packet came to swap it with)."""
        if self._held is None:
            return []
        index, data = self._held
        self._held = None
        self.order.append(index)
        return [data]

    @property
    def pending(self) -> bool:
        return self._held is not None

    @classmethod
    def preview(cls, count: int, seed: int, loss: float = 0.05, swap: float = 0.05) -> Impairment:
        """What the relay will do to `count` packets: a fresh Impairment fed indices."""
        imp = cls(seed, loss, swap)
        for i in range(count):
            imp.feed(i.to_bytes(4, "big"))
        imp.flush()
        return imp


class LossyRelay:
    """UDP relay thread: test -> (impaired) -> box, box -> test. Use as a context manager."""

    def __init__(
        self,
        box_addr: tuple,
        seed: int,
        *,
        loss: float = 0.05,
        swap: float = 0.05,
        host: str = "127.0.0.1",
    ) -> None:
        self.box_addr = box_addr
        self.impairment = Impairment(seed, loss, swap)
        self.front = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.back = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.front.bind((host, 0))
        self.back.bind((host, 0))
        self.client: tuple | None = None
        self.forwarded = 0
        self.returned = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lossy-relay", daemon=True)

    @property
    def address(self) -> tuple:
        """Where the test sends its RTP."""
        return self.front.getsockname()

    def __enter__(self) -> LossyRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(_JOIN_TIMEOUT)
        self.front.close()
        self.back.close()

    def _to_box(self, packets: list[bytes]) -> None:
        for data in packets:
            try:
                self.back.sendto(data, self.box_addr)
                self.forwarded += 1
            except OSError:  # ICMP from a box that went away; the test judges that
                pass

    def _run(self) -> None:
        held_since = 0.0
        while not self._stop.is_set():
            ready, _, _ = select.select([self.front, self.back], [], [], 0.02)
            for sock in ready:
                try:
                    data, source = sock.recvfrom(2048)
                except OSError:
                    continue
                if sock is self.front:
                    self.client = source
                    was_pending = self.impairment.pending
                    self._to_box(self.impairment.feed(data))
                    if self.impairment.pending and not was_pending:
                        held_since = time.monotonic()
                elif self.client is not None:
                    with contextlib.suppress(OSError):
                        self.front.sendto(data, self.client)
                        self.returned += 1
            if self.impairment.pending and time.monotonic() - held_since > _HOLD_FLUSH:
                self._to_box(self.impairment.flush())
        self._to_box(self.impairment.flush())


def send_schedule(
    sock: socket.socket,
    dest: tuple,
    slots: list[list[bytes]],
    *,
    at_slot: dict[int, Callable[[], None]] | None = None,
    ptime: float = PTIME,
) -> list[float]:
    """Send slot k's packets (in order) at start + k*ptime, on absolute deadlines.

    `at_slot[k]` runs just before slot k is sent. Send errors (a box that is gone) are
    ignored. Returns the monotonic send time of each slot. Takes len(slots)*ptime.
    """
    hooks = at_slot or {}
    start = time.monotonic() + 0.005
    times: list[float] = []
    for k, packets in enumerate(slots):
        delay = start + k * ptime - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        hook = hooks.get(k)
        if hook is not None:
            hook()
        times.append(time.monotonic())
        for data in packets:
            with contextlib.suppress(OSError):
                sock.sendto(data, dest)
    return times
