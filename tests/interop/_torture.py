"""RFC 4475 torture messages: where they are, what the box should do with each, and the
one change we make before sending them.

The change: a server answers a request at the top Via's sent-by (RFC 3261 §18.2.2; the
packet's source only with rport, RFC 3581). The messages name hosts like
192.0.2.1:5060, so to receive the answers we replace that host[:port] with our socket's
address, byte for byte leaving everything else as the RFC has it. In a datagram with
several messages (dblreq.dat) each message's top Via is rewritten, so that an answer to
the trailing message, which must be ignored, would reach us too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._box import REPO_ROOT

ENV_DIR = "SEMS_LITE_RFC4475"

# Optional linear white space (with line folding) and required white space.
_SWS = rb"(?:[ \t]*\r\n[ \t]+|[ \t]*)"
_LWS = rb"(?:[ \t]*\r\n[ \t]+|[ \t]+)"
_VIA = re.compile(
    rb"(?im)^(?:via|v)[ \t]*:"
    + _SWS
    + rb"SIP"
    + _SWS
    + rb"/"
    + _SWS
    + rb"[0-9.]+"
    + _SWS
    + rb"/"
    + _SWS
    + rb"[A-Za-z0-9._+!~*'%-]+"
    + _LWS
    + rb"(?P<sentby>(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?:[ \t]*:[ \t]*[0-9]+)?)"
)
# A request or status line at the start of a line (tolerant: torture messages bend them).
_START = re.compile(
    rb"(?m)^(?:[!-~]+[ \t]+[^\r\n]*SIP/[0-9.]+[ \t]*|SIP/[0-9.]+[ \t]+[0-9]+[^\r\n]*)\r\n"
)


def torture_dir() -> Path | None:
    """The message folder: $SEMS_LITE_RFC4475, else ../shared/testdata/rfc4475 next to the repo."""
    env = os.environ.get(ENV_DIR)
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "testdata" / "rfc4475"
    return path if (path / "README.md").is_file() else None


@dataclass
class Expectation:
    """What the box must do with one message."""

    kind: str  # "status": one of codes; "drop": no answer; "valid": handled, not rejected
    codes: frozenset[int] = frozenset()
    header: str | None = None  # a header the final response must carry
    forbidden: frozenset[int] = frozenset()
    single: bool = False  # exactly one final response (trailing octets ignored)
    tolerate: bool = False  # "400 (or tolerate)": a valid handling is fine too
    text: str = ""

    def check(self, finals: list[int], headers_ok: bool) -> str | None:
        """None when the observed final status codes meet the expectation, else why not."""
        if self.kind == "drop":
            return None if not finals else f"want no answer, got {finals}"
        if not finals:
            return "no final response"
        code = finals[0]
        if self.single and len(finals) != 1:
            return f"want exactly one final response, got {finals}"
        if self.kind == "status":
            if code in self.codes:
                return None if headers_ok else f"{code} lacks a {self.header} header"
            if self.tolerate and _valid(code, self.forbidden):
                return None
            return f"want {'/'.join(map(str, sorted(self.codes)))}, got {code}"
        if not _valid(code, self.forbidden):
            return f"valid message rejected with {code}"
        return None


# A valid request may be refused for what it asks (404, 405, 501, ...) but not as
# malformed (400), not with a crash (500), and not for version or scheme.
_NOT_VALID = frozenset({400, 500, 505, 416})


def _valid(code: int, forbidden: frozenset[int]) -> bool:
    return 200 <= code <= 699 and code not in _NOT_VALID | forbidden


def classify(expected: str) -> Expectation:
    """Turn the README's 'expected' column into an Expectation; unknown wording raises."""
    e = expected.strip().lower()
    if "drop" in e or e == "valid response":
        return Expectation("drop", text=expected)
    if "405/501" in e:
        return Expectation("status", frozenset({405, 501}), text=expected)
    m = re.match(r"(?:invalid: )?(\d{3})\b", e)
    if m:
        header = None
        hm = re.search(r"with (\w[\w-]*)", e)
        if hm:
            header = hm.group(1).capitalize()
        return Expectation(
            "status",
            frozenset({int(m.group(1))}),
            header=header,
            tolerate="or tolerate" in e,
            text=expected,
        )
    if e.startswith(("valid", "tolerate")):
        forbidden = frozenset({483}) if "483 only when forwarding" in e else frozenset()
        return Expectation(
            "valid", forbidden=forbidden, single="first message only" in e, text=expected
        )
    raise ValueError(f"unknown expectation wording: {expected!r}")


@dataclass
class Case:
    name: str
    section: str
    title: str
    expectation: Expectation
    data: bytes = field(repr=False, default=b"")


def load_cases(folder: Path) -> list[Case]:
    """Every row of the README table, with its message bytes."""
    cases = []
    row = re.compile(r"^\|\s*(\S+\.dat)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|$")
    for line in (folder / "README.md").read_text().splitlines():
        m = row.match(line)
        if m:
            name, section, title, expected = m.groups()
            cases.append(
                Case(name, section, title, classify(expected), (folder / name).read_bytes())
            )
    return cases


def rewrite_top_via(data: bytes, sent_by: str) -> tuple[bytes, int]:
    """Replace the sent-by of the top Via of each message in data; (new data, count)."""
    starts = sorted({0, *(m.start() for m in _START.finditer(data))})
    out = bytearray()
    done = 0
    count = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        block = data[start:end]
        head_end = block.find(b"\r\n\r\n")
        head = block if head_end < 0 else block[:head_end]
        m = _VIA.search(head)
        if m:
            a, b = m.span("sentby")
            out += data[done : start + a] + sent_by.encode()
            done = start + b
            count += 1
    out += data[done:]
    return bytes(out), count
