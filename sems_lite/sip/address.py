"""name-addr / addr-spec values: From, To, Contact, Route, Record-Route, Refer-To...

Rules kept here (RFC 3261 §20.10, §25.1):
- In addr-spec form (no <>), parameters after the URI belong to the header, not to the
  URI; a URI containing ',', ';' or '?' must therefore be written inside <>.
- Inside <...> no whitespace is allowed (LAQUOT = SWS "<", RAQUOT = ">" SWS).
- An unquoted display name is a sequence of tokens; anything else must be quoted.
- Output always uses the <uri> form, quoting the display name when it needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sems_lite.sip.errors import SipParseError
from sems_lite.sip.headers import format_params, parse_params
from sems_lite.sip.uri import AbsoluteUri, SipUri, parse_uri

__all__ = ["Address", "parse_address"]

_TOKENS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*")
_TOKENS_SINGLE_SPACED = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?: [A-Za-z0-9\-.!%*_+`'~]+)*")
_QUOTE_SPECIALS = re.compile(r'["\\]')
# qdtext excludes '"', '\\' and control characters; quoted-pair can carry all but CR/LF.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_UNESCAPE = re.compile(r"\\(.)", re.S)
_ADDR_SPEC_END = re.compile(r"[ \t;]")


@dataclass(slots=True)
class Address:
    """A URI with an optional display name and header parameters (tag, expires, q...)."""

    uri: SipUri | AbsoluteUri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        name = self.display_name
        if name is None:
            head = ""
        elif name and _TOKENS_SINGLE_SPACED.fullmatch(name):
            head = name + " "
        else:
            head = '"' + _NEEDS_ESCAPE.sub(r"\\\g<0>", name) + '" '
        return f"{head}<{self.uri}>{format_params(self.params)}"


def _quoted_end(text: str) -> int:
    """Index of the closing quote of the quoted string opening at text[0], or -1."""
    i = 1
    n = len(text)
    while i < n:
        j = _QUOTE_SPECIALS.search(text, i)
        if j is None:
            return -1
        i = j.start()
        if text[i] == '"':
            return i
        i += 2  # skip the escaped character
    return -1


def parse_address(text: str) -> Address:
    """Parse one name-addr or addr-spec with its header parameters."""
    text = text.strip(" \t")
    if not text:
        raise SipParseError("Empty address")
    display: str | None = None
    if text[0] == '"':
        end = _quoted_end(text)
        if end < 0:
            raise SipParseError("Unterminated quoted string")
        display = _UNESCAPE.sub(r"\1", text[1:end])
        rest = text[end + 1 :].lstrip(" \t")
        if not rest.startswith("<"):
            raise SipParseError("Quoted display name without <URI>")
        return _name_addr(rest, display)
    lt = text.find("<")
    if lt >= 0:
        words = text[:lt].strip(" \t")
        if words:
            if not _TOKENS.fullmatch(words):
                raise SipParseError("Display name with non-token characters must be quoted")
            display = words
        return _name_addr(text[lt:], display)
    # addr-spec: the URI ends at the first whitespace or ';'.
    match = _ADDR_SPEC_END.search(text)
    end = match.start() if match else len(text)
    uri_text, rest = text[:end], text[end:]
    if "," in uri_text or "?" in uri_text:
        raise SipParseError("URI with ',' or '?' must be enclosed in <>")
    rest = rest.lstrip(" \t")
    if rest and rest[0] != ";":
        raise SipParseError("Whitespace inside addr-spec")
    return Address(parse_uri(uri_text), None, parse_params(rest, "address"))


def _name_addr(text: str, display: str | None) -> Address:
    # text starts with '<'
    gt = text.find(">")
    if gt < 0:
        raise SipParseError("Missing '>' in address")
    uri_text = text[1:gt]
    if not uri_text:
        raise SipParseError("Empty <URI>")
    if uri_text[0] in " \t" or uri_text[-1] in " \t":
        raise SipParseError("Whitespace inside <URI>")
    return Address(parse_uri(uri_text), display, parse_params(text[gt + 1 :], "address"))
