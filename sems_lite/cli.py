"""Command line: `sems-lite run|check-config`, also `python -m sems_lite`."""

from __future__ import annotations

import logging
import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sems_lite import __version__, memory

if TYPE_CHECKING:
    import argparse

DEFAULT_CONFIG = "etc/sems_lite.yaml"


def _parser() -> argparse.ArgumentParser:
    import argparse  # imported here so that `run` can drop it after parsing

    parser = argparse.ArgumentParser(prog="sems-lite", description="A small SIP media server.")
    parser.add_argument("--version", action="store_true", help="print version and exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the server")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="YAML config file")
    run.add_argument(
        "--listen",
        action="append",
        metavar="ADDR:PORT",
        help="listen address, overrides the file; [udp:|tcp:]ADDR:PORT, repeatable",
    )
    run.add_argument("--rtp-ports", metavar="LOW-HIGH", help="RTP port range")
    run.add_argument("--log-level", metavar="LEVEL", help="debug, info, warning, error")
    run.add_argument("--control", metavar="HOST:PORT", help="control interface address, or off")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes behind the SIP address (server profile); 0: one per CPU",
    )
    sub.add_parser(
        "ctl", help="talk to a running box: status, calls, hangup ID, drain", add_help=False
    )
    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file")
    return parser


def _version_text() -> str:
    from sems_lite import native

    # 'native' = the compiled C kernels, 'fallback' = the pure-Python/audioop path.
    return f"sems-lite {__version__} {native.IMPLEMENTATION} (python {sys.version.split()[0]})"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:
        from sems_lite import ctl

        return ctl.main(argv[1:])
    before = set(sys.modules)
    args = _parser().parse_args(argv)
    if args.version:
        print(_version_text())
        return 0
    if args.command == "run":
        # argparse and what it imported (gettext, locale, shutil...: 1 MB RssAnon) are
        # not needed once parsed: forgotten, the server's modules reuse their memory.
        args = SimpleNamespace(**vars(args))  # no argparse.Namespace left to hold them
        memory.forget_modules(set(sys.modules) - before)
        return _run(args)
    if args.command == "check-config":
        return _check_config(args.file)
    _parser().print_help()
    return 2


def _check_config(path: str) -> int:
    from sems_lite.apps import AppError, AppTable
    from sems_lite.config import ConfigError, load_config

    try:
        config = load_config(path)
        AppTable(config).check_importable()
    except (ConfigError, AppError) as exc:
        print(f"sems-lite: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: OK ({len(config.apps)} apps, {len(config.routing)} routing rules)")
    return 0


def _run(args: SimpleNamespace) -> int:
    from sems_lite.config import ConfigError, apply_overrides, drop_parser, load_config

    overrides: dict[str, object] = {
        "listen": args.listen,
        "rtp_ports": args.rtp_ports,
        "log_level": args.log_level,
        "control": args.control,
    }
    try:
        config = apply_overrides(load_config(args.config), **overrides)  # type: ignore[arg-type]
    except ConfigError as exc:
        print(f"sems-lite: {exc}", file=sys.stderr)
        return 1
    # Read before the server's modules are imported: they reuse the parser's memory.
    drop_parser()
    from sems_lite.apps import AppError
    from sems_lite.server import Server
    from sems_lite.workers import Master, default_count

    server = Server(config, overrides)
    # Under procd/systemd (stderr not a terminal) the log daemon adds its own timestamp.
    stamp = "%(asctime)s " if sys.stderr.isatty() or os.environ.get("SEMS_LITE_LOG_TIME") else ""
    logging.basicConfig(
        level=getattr(logging, server.config.log_level.upper()),
        format=stamp + "%(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    workers = args.workers if args.workers > 0 else default_count()
    try:
        if workers > 1:
            return Master(server.config, server.overrides, workers).run()
        return server.run()
    except (AppError, OSError, ValueError) as exc:
        print(f"sems-lite: cannot start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
