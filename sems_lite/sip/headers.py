"""Header names, comma lists, generic parameters and the ordered `Headers` multi-map.

Rules kept here:
- Names are stored in one canonical spelling (compact forms expanded, the usual
  capitalisation), so lookups compare plain strings.
- Values are stored raw, as they came off the wire after unfolding; parsing a value into
  a typed object is the job of the module named after that header.
- Splitting on ',' or ';' never looks inside "quoted strings" (with \\-escapes) or <...>.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sems_lite.sip.errors import SipParseError

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "TOKEN",
    "Headers",
    "canonical_name",
    "parse_params",
    "split_comma_list",
    "split_semicolons",
]

# RFC 3261 §7.3.3 and the IANA SIP header registry.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Names whose usual spelling is not plain Title-Case per dash-separated word.
_SPECIAL_SPELLING = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "MIME-Version",
        "RAck",
        "RSeq",
        "SIP-ETag",
        "SIP-If-Match",
        "Content-ID",
        "Min-SE",
        "User-to-User",
        "P-Called-Party-ID",
        "P-Visited-Network-ID",
        "P-Associated-URI",
    )
}

# Headers whose grammar is `x *(COMMA x)`: one line may carry several values.
LIST_HEADERS = frozenset(
    {
        "Via",
        "Contact",
        "Route",
        "Record-Route",
        "Path",
        "Service-Route",
        "Allow",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Allow-Events",
        "Content-Encoding",
        "Content-Language",
        "In-Reply-To",
        "Alert-Info",
        "Call-Info",
        "Error-Info",
        "Warning",
        "Reason",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "History-Info",
    }
)

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# gen-value = token / host / quoted-string; unquoted values are taken leniently (IPv6
# received= values carry ':'), only characters that would break the framing are refused.
_UNQUOTED_VALUE = re.compile(r"[^\s\"<>,;]+")
_QUOTED_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_COMMA_SPECIALS = re.compile(r'[",<>\\]')
_SEMI_SPECIALS = re.compile(r'[";\\]')

_name_cache: dict[str, str] = {}
_NAME_CACHE_MAX = 512  # names come from the network: never let the cache grow unbounded


def canonical_name(name: str) -> str:
    """Return the usual spelling of a header name, expanding compact forms."""
    cached = _name_cache.get(name)
    if cached is not None:
        return cached
    lower = name.lower()
    if len(lower) == 1 and lower in COMPACT_FORMS:
        result = COMPACT_FORMS[lower]
    else:
        result = _SPECIAL_SPELLING.get(lower) or "-".join(
            word[:1].upper() + word[1:] for word in lower.split("-")
        )
    if len(_name_cache) < _NAME_CACHE_MAX:
        _name_cache[name] = result
    return result


# Known names are cached from the start, so a peer's usual headers never put strings
# made from its packets into the cache: made during a load, those few long-lived
# strings would keep otherwise empty allocator arenas resident afterwards.
for _known in (
    *COMPACT_FORMS,
    *COMPACT_FORMS.values(),
    *_SPECIAL_SPELLING.values(),
    *LIST_HEADERS,
    "To",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
    "Content-Length",
    "Content-Disposition",
    "User-Agent",
    "Server",
    "Subject",
    "Expires",
    "Min-Expires",
    "Session-Expires",
    "Event",
    "Subscription-State",
    "Refer-To",
    "Referred-By",
    "Replaces",
    "Authorization",
    "Proxy-Authorization",
    "Proxy-Authenticate",
    "Authentication-Info",
    "Retry-After",
    "Timestamp",
    "Date",
    "Organization",
    "Priority",
    "Privacy",
    "RSeq",
    "RAck",
):
    canonical_name(_known)
del _known


def _split_outside(value: str, sep: str, specials: re.Pattern[str], angles: bool) -> list[str]:
    # Walk only the special characters: quotes, escapes, brackets and the separator.
    parts: list[str] = []
    start = 0
    in_quote = in_angle = False
    escaped_at = -1
    for match in specials.finditer(value):
        pos = match.start()
        if pos == escaped_at:
            continue
        char = value[pos]
        if in_quote:
            if char == "\\":
                escaped_at = pos + 1
            elif char == '"':
                in_quote = False
        elif in_angle:
            if char == ">":
                in_angle = False
        elif char == '"':
            in_quote = True
        elif char == "<" and angles:
            in_angle = True
        elif char == sep:
            parts.append(value[start:pos])
            start = pos + 1
    parts.append(value[start:])
    return parts


def split_comma_list(value: str) -> list[str]:
    """Split a header value at top-level commas; items are stripped, empty ones dropped."""
    if '"' in value or "<" in value:
        parts = _split_outside(value, ",", _COMMA_SPECIALS, True)
    else:
        parts = value.split(",")
    return [item for item in (part.strip(" \t") for part in parts) if item]


def split_semicolons(value: str) -> list[str]:
    """Split at ';' outside quoted strings; pieces are returned unstripped."""
    if '"' in value:
        return _split_outside(value, ";", _SEMI_SPECIALS, False)
    return value.split(";")


def parse_params(text: str, where: str = "header") -> dict[str, str | None]:
    """Parse `*(SEMI generic-param)`; names are lower-cased, values kept as written.

    `text` must be empty or start with ';' (surrounding whitespace allowed).
    """
    text = text.strip(" \t")
    if not text:
        return {}
    if text[0] != ";":
        raise SipParseError(f"Unexpected text after {where}")
    params: dict[str, str | None] = {}
    pieces = split_semicolons(text)
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip(" \t")
        if not TOKEN.fullmatch(name):
            raise SipParseError(f"Malformed parameter in {where}")
        if eq:
            value = value.strip(" \t")
            if not (_UNQUOTED_VALUE.fullmatch(value) or _QUOTED_VALUE.fullmatch(value)):
                raise SipParseError(f"Malformed value of parameter {name!r} in {where}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Serialize parameters as ';name=value;flag'."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _check_value(value: str) -> str:
    # A CR or LF in a value would let a caller inject header lines.
    if "\r" in value or "\n" in value:
        raise ValueError("header value must not contain CR or LF")
    return value


class Headers:
    """Ordered, case-insensitive multi-map of header lines with canonical names."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [
            (canonical_name(name), _check_value(value)) for name, value in items
        ]

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap a list the parser built (names already canonical, values CR/LF-free)."""
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value; for comma-list headers the first element of the list."""
        name = canonical_name(name)
        if name in LIST_HEADERS:
            for item_name, value in self._items:
                if item_name == name:
                    values = split_comma_list(value)
                    if values:
                        return values[0]
            return default
        for item_name, value in self._items:
            if item_name == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value in order; comma-list headers are split into their elements."""
        name = canonical_name(name)
        values = [value for item_name, value in self._items if item_name == name]
        if name in LIST_HEADERS:
            return [item for value in values for item in split_comma_list(value)]
        return values

    def count(self, name: str) -> int:
        """Number of header lines with this name (not of comma-separated elements)."""
        name = canonical_name(name)
        return sum(1 for item_name, _ in self._items if item_name == name)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), _check_value(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every line of `name` by one line, kept where the first one was."""
        name = canonical_name(name)
        value = _check_value(value)
        out: list[tuple[str, str]] = []
        placed = False
        for item in self._items:
            if item[0] != name:
                out.append(item)
            elif not placed:
                out.append((name, value))
                placed = True
        if not placed:
            out.append((name, value))
        self._items = out

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self._items = [item for item in self._items if item[0] != name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        name = canonical_name(name)
        return any(item_name == name for item_name, _ in self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
