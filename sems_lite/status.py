"""What the control interface offers: JSON-RPC methods and the /metrics exposition.

Kept apart from the server wiring so the list of methods and metrics reads in one place.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sems_lite import __version__, native
from sems_lite.control import ControlServer, RpcError
from sems_lite.metrics import MetricsWriter

if TYPE_CHECKING:
    from sems_lite.server import Server

NOT_FOUND = -32004  # application error code: no such call


def register(control: ControlServer, server: Server) -> None:
    ua = server.ua
    started = time.time()

    def status() -> dict[str, Any]:
        return {
            "version": __version__,
            "kernels": native.IMPLEMENTATION,
            "uptime_s": round(time.time() - started, 1),
            "calls": len(ua.calls),
            "max_calls": ua.config.limits.max_calls,
            "draining": ua.draining,
            "listen": [f"{a.transport}:{a.host}:{a.port}" for a in ua.config.sip.listen],
            "apps": list(ua.config.apps),
        }

    def calls_list() -> list[dict[str, Any]]:
        now = server.loop.time()
        out = []
        for call in ua.calls.values():
            negotiated = call.negotiated
            out.append(
                {
                    "id": call.id,
                    "app": call.app_name,
                    "state": call.state.value,
                    "from": str(call.from_addr.uri),
                    "to": str(call.ruri),
                    "codec": negotiated.codec.name if negotiated else None,
                    "held": call.held,
                    "duration_s": round(now - call.started_at, 1) if call.started_at else 0.0,
                    "rtp_in": call.stream.packets_in,
                    "rtp_out": call.stream.packets_out,
                }
            )
        return out

    def calls_hangup(call_id: str) -> bool:
        call = ua.calls.get(call_id)
        if call is None:
            raise RpcError(NOT_FOUND, f"no call {call_id!r}")
        call.hangup("hung up by the operator")
        return True

    def drain() -> bool:
        # New INVITEs and OPTIONS get 503 (a proxy moves traffic away); calls continue.
        ua.draining = True
        return True

    def reload() -> bool:
        return server.reload()

    def set_limits(max_calls: int | None = None) -> dict[str, int]:
        if max_calls is not None:
            if not isinstance(max_calls, int) or max_calls <= 0:
                raise RpcError(-32602, "max_calls must be a positive integer")
            server.set_max_calls(max_calls)
        return {"max_calls": ua.config.limits.max_calls}

    control.method("status", status)
    control.method("calls.list", calls_list)
    control.method("calls.hangup", calls_hangup)
    control.method("server.drain", drain)
    control.method("server.reload", reload)
    control.method("server.set_limits", set_limits)
    control.metrics_source(lambda writer: write_metrics(writer, server))


def write_metrics(w: MetricsWriter, server: Server) -> None:
    ua = server.ua
    engine = server.engine
    per_app: dict[str, int] = dict.fromkeys(ua.config.apps, 0)
    for call in ua.calls.values():
        per_app[call.app_name] = per_app.get(call.app_name, 0) + 1
    for app, count in per_app.items():
        w.gauge("sems_lite_calls_active", "Calls in progress", count, {"app": app})
    for (app, code), count in sorted(ua.call_results.items()):
        w.counter(
            "sems_lite_calls_total",
            "Calls by app and final INVITE response code",
            count,
            {"app": app, "code": str(code)},
        )
    for method, count in sorted(ua.request_counts.items()):
        w.counter(
            "sems_lite_sip_requests_total", "SIP requests received", count, {"method": method}
        )
    for code, count in sorted(ua.response_counts.items()):
        w.counter("sems_lite_sip_responses_total", "SIP responses sent", count, {"code": str(code)})
    w.counter(
        "sems_lite_sip_parse_errors_total", "Unparsable SIP messages", ua.stats["parse_errors"]
    )
    packets_in = ua.rtp_totals["packets_in"] + sum(c.stream.packets_in for c in ua.calls.values())
    packets_out = ua.rtp_totals["packets_out"] + sum(
        c.stream.packets_out for c in ua.calls.values()
    )
    octets_out = ua.rtp_totals["octets_out"] + sum(c.stream.octets_out for c in ua.calls.values())
    w.counter("sems_lite_rtp_packets_total", "RTP packets", packets_in, {"direction": "in"})
    w.counter("sems_lite_rtp_packets_total", "RTP packets", packets_out, {"direction": "out"})
    w.counter(
        "sems_lite_rtp_payload_octets_total",
        "RTP payload octets sent",
        octets_out,
        {"direction": "out"},
    )
    lost = sum(c.stream.jitter.lost for c in ua.calls.values() if c.stream.jitter)
    w.gauge("sems_lite_rtp_lost_packets", "Packets lost in calls in progress", lost)
    jitters = [
        c.stream.jitter.jitter / c.stream.clock_rate for c in ua.calls.values() if c.stream.jitter
    ]
    w.gauge(
        "sems_lite_rtp_jitter_seconds_max",
        "Highest interarrival jitter of calls in progress",
        max(jitters, default=0.0),
    )
    w.counter("sems_lite_media_ticks_total", "Media ticks run", engine.ticks)
    w.counter(
        "sems_lite_media_late_ticks_total", "Media ticks skipped for lateness", engine.late_ticks
    )
    w.gauge(
        "sems_lite_media_tick_lateness_max_seconds", "Latest media tick so far", engine.max_lateness
    )
    w.gauge(
        "sems_lite_kernels",
        "Which media kernels run (1 = this one)",
        1,
        {"implementation": native.IMPLEMENTATION},
    )
    w.gauge("sems_lite_draining", "1 while draining (new calls refused)", int(ua.draining))
