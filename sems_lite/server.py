"""Wiring: the loop, the SIP transports, the media engine, the UA; signals; start and stop."""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import os
import signal

from sems_lite import memory
from sems_lite.apps import AppTable, Router
from sems_lite.config import Config, ConfigError, apply_overrides, drop_parser, load_config
from sems_lite.core.loop import Loop
from sems_lite.core.ports import RtpPortPool
from sems_lite.core.transport import Transports
from sems_lite.media.engine import MediaEngine
from sems_lite.ua import UserAgent
from sems_lite.workers import WorkerSockets, worker_config

log = logging.getLogger("sems_lite")


class Server:
    def __init__(
        self,
        config: Config,
        overrides: dict[str, object] | None = None,
        *,
        workers: WorkerSockets | None = None,
    ) -> None:
        self.config = config
        self.workers = workers  # set in a server-profile worker (sems_lite.workers)
        self.overrides = overrides or {}
        self.loop = Loop()
        self.transports = Transports(self.loop, self._receive)
        self.engine = MediaEngine(self.loop, config.rtp.ptime)
        self.ports = RtpPortPool(config.rtp.port_low, config.rtp.port_high)
        self.apps = AppTable(config)
        self.ua = UserAgent(
            self.loop, config, self.transports, self.engine, self.ports, Router(config), self.apps
        )
        self.exit_code = 0
        self.control = None

    def _receive(self, data: bytes, peer) -> None:
        self.ua.receive(data, peer)

    def start(self) -> None:
        self.apps.check_importable()
        if self.workers is not None:
            # UDP arrives relayed by the master; replies leave from the shared sockets.
            for sock in self.workers.udp:
                self.transports.adopt_udp(sock)
            self.transports.relay_from(self.workers.inbox)
        for addr in self.config.sip.listen:
            if self.workers is not None and (addr.transport == "udp" or self.workers.index):
                continue  # TCP is served by worker 0
            self.transports.listen(addr.transport, addr.host, addr.port)
            shown = f"[{addr.host}]" if ":" in addr.host else addr.host
            log.info("listening on %s:%s:%d", addr.transport, shown, addr.port)
        log.info(
            "RTP ports %d-%d, ptime %d ms, max %d calls, apps: %s",
            self.config.rtp.port_low,
            self.config.rtp.port_high,
            self.config.rtp.ptime,
            self.config.limits.max_calls,
            ", ".join(self.config.apps),
        )
        if self.config.control.host:
            self._start_control()
        self.loop.add_signal_handler(signal.SIGINT, self.shutdown)
        self.loop.add_signal_handler(signal.SIGTERM, self.shutdown)
        self.loop.add_signal_handler(signal.SIGHUP, self.reload)
        # Everything loaded so far lives as long as the process: keep it out of the
        # cyclic collector, so a full collection during calls does not walk it (a pause
        # that every stream's packets would share).
        gc.collect()
        gc.freeze()
        # Start-up's garbage (compiling, the YAML parse) left free pages in the C heap.
        memory.trim()

    def _start_control(self) -> None:
        # Imported only when configured: a router without the control interface saves it.
        from sems_lite import status
        from sems_lite.control import ControlServer

        ctl = self.config.control
        assert ctl.host is not None
        web = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
        self.control = ControlServer(
            self.loop,
            ctl.host,
            ctl.port,
            token=ctl.token,
            static_dir=web if os.path.isdir(web) else None,
        )
        status.register(self.control, self)
        # Apps may offer control methods (webconference rooms...): a module-level
        # `register_control(control, get_app, ua, app_name)`; get_app() creates the app on
        # first use; the UA lets a method place calls (conf.dialout).
        for name in self.config.apps:
            hook = getattr(self.apps.get(name).module, "register_control", None)
            if hook is not None:
                hook(self.control, functools.partial(self.apps.instance, name), self.ua, name)
        self.control.start()
        log.info("control interface on http://%s:%d/", ctl.host, self.control.port)

    def set_max_calls(self, max_calls: int) -> None:
        limits = dataclasses.replace(self.config.limits, max_calls=max_calls)
        self.config = dataclasses.replace(self.config, limits=limits)
        self.ua.reconfigure(self.config, self.ua.router)
        log.info("limits: max_calls set to %d", max_calls)

    def run(self) -> int:
        self.start()
        try:
            self.loop.run_forever()
        finally:
            if self.control is not None:
                self.control.close()
            self.transports.close()
            self.loop.close()
        return self.exit_code

    def shutdown(self) -> None:
        if self.ua.draining:
            log.info("second stop signal: exiting now")
            self.loop.stop()
            return
        log.info("stopping: %d call(s) in progress get BYE", len(self.ua.calls))
        self.ua.drain_and_stop(self.loop.stop)

    def reload(self) -> bool:
        try:
            config = load_config(self.config.path)
            config = apply_overrides(config, **self.overrides)  # type: ignore[arg-type]
            if self.workers is not None:  # this worker's share, as at start
                config = worker_config(config, self.workers.index, self.workers.count)
            router = Router(config)
            self.apps.reload(config)
            self.apps.check_importable()
        except Exception as exc:  # ConfigError, AppError: keep the old config
            log.error("reload failed, keeping the running config: %s", exc)
            return False
        finally:
            drop_parser()  # as at start: the running box has no use for the YAML parser
        if config.sip.listen != self.config.sip.listen or config.rtp != self.config.rtp:
            log.warning("reload: listen addresses and RTP settings change on restart only")
        self.config = config
        self.ua.reconfigure(config, router)
        log.info("configuration reloaded from %s", config.path)
        return True


def build(path: str, **overrides: object) -> Server:
    """Load, override and validate: raises ConfigError before anything listens."""
    config = apply_overrides(load_config(path), **overrides)  # type: ignore[arg-type]
    return Server(config, overrides)


__all__ = ["ConfigError", "Server", "build"]
