"""The Prometheus text exposition writer."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from sems_lite.metrics import CONTENT_TYPE, MetricsWriter


def sample_page() -> MetricsWriter:
    w = MetricsWriter()
    w.gauge("sems_active_calls", "Active calls per app.", 3, {"app": "echo"})
    w.counter("sems_sip_requests_total", "SIP requests received.", 10, {"method": "INVITE"})
    w.gauge("sems_active_calls", "Active calls per app.", 1, {"app": "conference"})
    w.counter("sems_sip_requests_total", "SIP requests received.", 4, {"method": "BYE"})
    w.histogram(
        "sems_tick_lateness_seconds",
        "How late media ticks ran.",
        [(0.001, 5), (0.005, 9)],
        sum=0.0125,
        count=10,
    )
    w.summary(
        "sems_rtp_jitter_seconds",
        "Interarrival jitter.",
        {0.5: 0.002, 0.99: 0.01},
        sum=0.5,
        count=100,
        labels={"dir": "in"},
    )
    return w


GOLDEN = """\
# HELP sems_active_calls Active calls per app.
# TYPE sems_active_calls gauge
sems_active_calls{app="echo"} 3
sems_active_calls{app="conference"} 1
# HELP sems_sip_requests_total SIP requests received.
# TYPE sems_sip_requests_total counter
sems_sip_requests_total{method="INVITE"} 10
sems_sip_requests_total{method="BYE"} 4
# HELP sems_tick_lateness_seconds How late media ticks ran.
# TYPE sems_tick_lateness_seconds histogram
sems_tick_lateness_seconds_bucket{le="0.001"} 5
sems_tick_lateness_seconds_bucket{le="0.005"} 9
sems_tick_lateness_seconds_bucket{le="+Inf"} 10
sems_tick_lateness_seconds_sum 0.0125
sems_tick_lateness_seconds_count 10
# HELP sems_rtp_jitter_seconds Interarrival jitter.
# TYPE sems_rtp_jitter_seconds summary
sems_rtp_jitter_seconds{dir="in",quantile="0.5"} 0.002
sems_rtp_jitter_seconds{dir="in",quantile="0.99"} 0.01
sems_rtp_jitter_seconds_sum{dir="in"} 0.5
sems_rtp_jitter_seconds_count{dir="in"} 100
"""


def test_golden_page_groups_families() -> None:
    assert sample_page().text() == GOLDEN


def test_content_type_is_text_format_004() -> None:
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_empty_writer_renders_nothing() -> None:
    assert MetricsWriter().text() == ""


def test_label_value_escaping() -> None:
    w = MetricsWriter()
    w.gauge("g", "help", 1, {"path": 'C:\\dir "x"\nnext'})
    assert w.text().splitlines()[2] == 'g{path="C:\\\\dir \\"x\\"\\nnext"} 1'


def test_help_escaping() -> None:
    w = MetricsWriter()
    w.gauge("g", 'back\\slash\nand "quotes"', 1)
    assert w.text().splitlines()[0] == '# HELP g back\\\\slash\\nand "quotes"'


def test_value_formats() -> None:
    w = MetricsWriter()
    w.gauge("a", "h", math.inf, {"k": "1"})
    w.gauge("a", "h", -math.inf, {"k": "2"})
    w.gauge("a", "h", math.nan, {"k": "3"})
    w.gauge("a", "h", 1.5e-7, {"k": "4"})
    w.gauge("a", "h", True, {"k": "5"})
    w.gauge("a", "h", 2.0, {"k": "6"})
    values = [line.split(" ")[1] for line in w.text().splitlines()[2:]]
    assert values == ["+Inf", "-Inf", "NaN", "1.5e-07", "1", "2.0"]


def test_non_string_label_values_are_stringified() -> None:
    w = MetricsWriter()
    w.counter("calls_total", "h", 2, {"code": 486})
    assert 'calls_total{code="486"} 2' in w.text()


def test_histogram_with_explicit_inf_and_labels() -> None:
    w = MetricsWriter()
    w.histogram("h", "help", [(1, 1), (math.inf, 2)], sum=3, count=2, labels={"x": "y"})
    lines = w.text().splitlines()[2:]
    assert lines == [
        'h_bucket{x="y",le="1"} 1',
        'h_bucket{x="y",le="+Inf"} 2',
        'h_sum{x="y"} 3',
        'h_count{x="y"} 2',
    ]


@pytest.mark.parametrize(
    "buckets",
    [
        [(1, 5), (0.5, 6)],  # bounds not increasing
        [(1, 5), (2, 4)],  # counts not cumulative
        [(1, 11)],  # more than count
        [(math.inf, 9)],  # +Inf differs from count
    ],
)
def test_histogram_rejects_inconsistent_buckets(buckets: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        MetricsWriter().histogram("h", "help", buckets, sum=1, count=10)


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.gauge("1bad", "h", 1),
        lambda w: w.gauge("bad-name", "h", 1),
        lambda w: w.gauge("g", "h", 1, {"bad-label": "v"}),
        lambda w: w.gauge("g", "h", 1, {"__reserved": "v"}),
        lambda w: w.histogram("h", "h", [], 0, 0, {"le": "1"}),
        lambda w: w.summary("s", "h", {0.5: 1}, 0, 0, {"quantile": "1"}),
        lambda w: w.summary("s", "h", {1.5: 1}, 0, 0),
        lambda w: w.counter("c", "h", -1),
    ],
)
def test_invalid_input_is_refused(call: Callable[[MetricsWriter], None]) -> None:
    with pytest.raises(ValueError):
        call(MetricsWriter())


def test_kind_conflict_and_duplicate_sample_are_refused() -> None:
    w = MetricsWriter()
    w.gauge("m", "h", 1, {"a": "1"})
    with pytest.raises(ValueError):
        w.counter("m", "h", 1)
    with pytest.raises(ValueError):
        w.gauge("m", "h", 2, {"a": "1"})
    w.gauge("m", "h", 2, {"a": "2"})  # another label set is fine


def test_prometheus_client_parses_the_page() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    w = sample_page()
    w.gauge("odd_labels", "Tricky \\ help\nline.", 7, {"v": 'a"b\\c\nd'})
    families = {f.name: f for f in parser.text_string_to_metric_families(w.text())}
    # The client library drops the _total suffix from counter family names.
    requests = families["sems_sip_requests"]
    assert requests.type == "counter"
    assert {s.labels["method"]: s.value for s in requests.samples} == {"INVITE": 10, "BYE": 4}
    active = families["sems_active_calls"]
    assert {s.labels["app"]: s.value for s in active.samples} == {"echo": 3, "conference": 1}
    hist = families["sems_tick_lateness_seconds"]
    assert hist.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.001": 5, "0.005": 9, "+Inf": 10}
    summary = families["sems_rtp_jitter_seconds"]
    assert summary.type == "summary"
    quantiles = {s.labels["quantile"]: s.value for s in summary.samples if "quantile" in s.labels}
    assert quantiles == {"0.5": 0.002, "0.99": 0.01}
    odd = families["odd_labels"]
    assert odd.documentation == "Tricky \\ help\nline."
    assert odd.samples[0].labels == {"v": 'a"b\\c\nd'}
