"""A tiny writer for the Prometheus text exposition format, version 0.0.4.

Rules this module keeps:
- each metric family gets one `# HELP` and one `# TYPE` line and all its samples together,
  whatever order the samples were added in; families come out in first-seen order;
- names are checked against the format's grammar (labels starting with `__` are reserved,
  `le` belongs to histograms and `quantile` to summaries); bad names raise ValueError;
- HELP text escapes backslash and newline; label values escape backslash, double quote and
  newline; values print as integers, Python floats, `+Inf`, `-Inf` or `NaN`;
- a sample with the same name and labels twice in one family is a ValueError (a scraper
  would reject the whole page).
Nothing here keeps state between scrapes: metric sources write current values into a fresh
writer on every GET /metrics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

__all__ = ["CONTENT_TYPE", "MetricsWriter"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, object] | None

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class _Family:
    __slots__ = ("help", "kind", "lines", "seen")

    def __init__(self, kind: str, help_text: str) -> None:
        self.kind = kind
        self.help = help_text
        self.lines: list[str] = []
        self.seen: set[str] = set()


class MetricsWriter:
    """Collects samples for one scrape; `text()` renders the page."""

    __slots__ = ("_families",)

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def counter(self, name: str, help: str, value: float, labels: Labels = None) -> None:
        if value < 0:
            raise ValueError(f"counter {name} cannot be negative")
        family = self._family(name, "counter", help)
        self._sample(family, name, _label_text(labels, ()), value)

    def gauge(self, name: str, help: str, value: float, labels: Labels = None) -> None:
        family = self._family(name, "gauge", help)
        self._sample(family, name, _label_text(labels, ()), value)

    def histogram(
        self,
        name: str,
        help: str,
        buckets: Iterable[tuple[float, float]],
        sum: float,
        count: float,
        labels: Labels = None,
    ) -> None:
        """`buckets` are (upper bound, cumulative count) in increasing order; +Inf is added
        from `count` when missing."""
        family = self._family(name, "histogram", help)
        base = _label_pairs(labels, ("le",))
        previous_bound = -math.inf
        previous_count = 0.0
        for bound, cumulative in buckets:
            if bound <= previous_bound or cumulative < previous_count or cumulative > count:
                raise ValueError(f"histogram {name}: buckets must be increasing and cumulative")
            if math.isinf(bound) and cumulative != count:
                raise ValueError(f"histogram {name}: +Inf bucket must equal count")
            previous_bound, previous_count = bound, cumulative
            le = [*base, f'le="{_value(bound)}"']
            self._sample(family, name + "_bucket", _join(le), cumulative)
        if not math.isinf(previous_bound):
            self._sample(family, name + "_bucket", _join([*base, 'le="+Inf"']), count)
        self._sample(family, name + "_sum", _join(base), sum)
        self._sample(family, name + "_count", _join(base), count)

    def summary(
        self,
        name: str,
        help: str,
        quantiles: Mapping[float, float] | Iterable[tuple[float, float]],
        sum: float,
        count: float,
        labels: Labels = None,
    ) -> None:
        """`quantiles` maps a quantile in [0, 1] (e.g. 0.5, 0.99) to its observed value."""
        family = self._family(name, "summary", help)
        base = _label_pairs(labels, ("quantile",))
        pairs = quantiles.items() if isinstance(quantiles, Mapping) else quantiles
        for q, observed in pairs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"summary {name}: quantile {q} outside [0, 1]")
            label = [*base, f'quantile="{_value(q)}"']
            self._sample(family, name, _join(label), observed)
        self._sample(family, name + "_sum", _join(base), sum)
        self._sample(family, name + "_count", _join(base), count)

    def text(self) -> str:
        out: list[str] = []
        for name, family in self._families.items():
            out.append(f"# HELP {name} {_escape_help(family.help)}")
            out.append(f"# TYPE {name} {family.kind}")
            out.extend(family.lines)
        return "\n".join(out) + "\n" if out else ""

    # -- internals -------------------------------------------------------------------------
    def _family(self, name: str, kind: str, help_text: str) -> _Family:
        family = self._families.get(name)
        if family is None:
            if not _METRIC_NAME.match(name):
                raise ValueError(f"invalid metric name {name!r}")
            family = self._families[name] = _Family(kind, help_text)
        elif family.kind != kind:
            raise ValueError(f"metric {name} is a {family.kind}, not a {kind}")
        return family

    @staticmethod
    def _sample(family: _Family, name: str, label_text: str, value: float) -> None:
        key = name + label_text
        if key in family.seen:
            raise ValueError(f"duplicate sample {key}")
        family.seen.add(key)
        family.lines.append(f"{key} {_value(value)}")


def _label_pairs(labels: Labels, reserved: tuple[str, ...]) -> list[str]:
    if not labels:
        return []
    pairs = []
    for key, raw in labels.items():
        if not _LABEL_NAME.match(key) or key.startswith("__") or key in reserved:
            raise ValueError(f"invalid label name {key!r}")
        pairs.append(f'{key}="{_escape_label(str(raw))}"')
    return pairs


def _label_text(labels: Labels, reserved: tuple[str, ...]) -> str:
    return _join(_label_pairs(labels, reserved))


def _join(pairs: list[str]) -> str:
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    if isinstance(value, int):  # bool included: True -> 1
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
