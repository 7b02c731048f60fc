#!/usr/bin/python3
"""UCI settings of /etc/config/sems_lite -> a YAML overlay over the box's YAML config.

Installed on the router as /usr/libexec/sems_lite/uci2yaml; the init script runs

    uci -q show sems_lite | uci2yaml render --address 192.168.1.1 --out FILE

which writes FILE (the YAML of `config_file` with the overlay laid over it, checked by
sems_lite.config when that is importable) and prints the `nofile` limit the box needs.
`uci2yaml overlay` prints the overlay alone. Errors name the UCI option and exit 1.

Input is the output of `uci show sems_lite` (section `main`, type `sems_lite`):
enabled, config_file, interface, port, listen (list), advertised_address, log_level,
watch_interface (list, read by the init script only).
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import os
import shlex
import sys
from typing import Any

import yaml

PACKAGE = "sems_lite"
SECTION = "main"
DEFAULT_CONFIG_FILE = "/etc/sems_lite/sems_lite.yaml"
DEFAULT_PORT = 5060
DEFAULT_RTP_PORTS = "10000-10999"  # sems_lite.config's default when the YAML has none
LOG_LEVELS = ("debug", "info", "warning", "error")
BOOLEANS = {"1": True, "on": True, "yes": True, "true": True, "enabled": True}
BOOLEANS.update({"0": False, "off": False, "no": False, "false": False, "disabled": False})
OPTIONS = (
    "enabled",
    "config_file",
    "interface",
    "port",
    "listen",
    "advertised_address",
    "log_level",
    "watch_interface",
)
# descriptors beside the RTP/RTCP sockets: SIP and control sockets, TCP peers, prompt
# files, the interpreter's own
FD_MARGIN = 128


class UciError(ValueError):
    """A UCI value that cannot be rendered; the message names the option."""


def parse_uci_show(text: str, package: str = PACKAGE) -> dict[str, dict[str, Any]]:
    """`uci show PACKAGE` output -> {section: {option: str or list of str}}.

    Lists are the options whose value holds several quoted words, as uci prints them.
    """
    sections: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, raw = line.partition("=")
        parts = key.split(".")
        if not sep or parts[0] != package or len(parts) not in (2, 3):
            raise UciError(f"line {number}: not a '{package}.SECTION[.OPTION]=VALUE' line")
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise UciError(f"line {number}: {exc}") from None
        if len(parts) == 2:
            sections.setdefault(parts[1], {})
            continue
        # uci quotes every list item on its own: several words are a list (a list of one
        # prints like an option, which _as_list takes either way)
        value = words if len(words) > 1 else "".join(words)
        sections.setdefault(parts[1], {})[parts[2]] = value
    return sections


def _opt(name: str) -> str:
    return f"{PACKAGE}.{SECTION}.{name}"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _single(options: dict[str, Any], name: str) -> str | None:
    value = options.get(name)
    if isinstance(value, list):
        raise UciError(f"{_opt(name)}: one value expected, got a list")
    return value if value else None


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def settings(sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Check the `main` section's options; returns them typed (missing ones defaulted)."""
    options = sections.get(SECTION, {})
    for name in options:
        if name not in OPTIONS:
            close = difflib.get_close_matches(name, OPTIONS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UciError(f"{_opt(name)}: unknown option{hint}")
    enabled_text = (_single(options, "enabled") or "1").lower()
    if enabled_text not in BOOLEANS:
        raise UciError(f"{_opt('enabled')}: {enabled_text!r} is not 0 or 1")
    port_text = _single(options, "port") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UciError(f"{_opt('port')}: {port_text!r} is not a port number (1-65535)")
    level = (_single(options, "log_level") or "info").lower()
    if level not in LOG_LEVELS:
        close = difflib.get_close_matches(level, LOG_LEVELS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (one of {', '.join(LOG_LEVELS)})"
        raise UciError(f"{_opt('log_level')}: {level!r} is not a log level{hint}")
    return {
        "enabled": BOOLEANS[enabled_text],
        "config_file": _single(options, "config_file") or DEFAULT_CONFIG_FILE,
        "interface": _single(options, "interface"),
        "port": int(port_text),
        "listen": _as_list(options.get("listen")),
        "advertised_address": _single(options, "advertised_address"),
        "log_level": level,
    }


def overlay(values: dict[str, Any], address: str | None = None) -> dict[str, Any]:
    """The YAML keys the UCI values set. `address` is the interface's address, resolved
    by the init script (network_get_ipaddr); it is needed when `listen` is not given."""
    listen = values["listen"]
    if not listen:
        if values["interface"] is None:
            raise UciError(f"{_opt('listen')}: no listen address and no interface")
        if not address:
            raise UciError(f"{_opt('interface')}: network {values['interface']!r} has no address")
        try:
            host = _bracket(str(ipaddress.ip_address(address)))
        except ValueError:
            raise UciError(f"{_opt('interface')}: {address!r} is not an IP address") from None
        listen = [f"udp:{host}:{values['port']}", f"tcp:{host}:{values['port']}"]
    sip: dict[str, Any] = {"listen": listen}
    if values["advertised_address"] is not None:
        sip["public_address"] = values["advertised_address"]
    return {"sip": sip, "log_level": values["log_level"]}


def merge(base: Any, top: Any) -> Any:
    """`top` laid over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = merge(base.get(key), value)
        return merged
    return top


def rtp_port_count(config: dict[str, Any]) -> int:
    """Ports in the config's rtp.ports range: one socket each (RTP, RTCP)."""
    text = str((config.get("rtp") or {}).get("ports") or DEFAULT_RTP_PORTS)
    low, _, high = text.partition("-")
    return int(high) - int(low) + 1


def nofile_limit(config: dict[str, Any]) -> int:
    """The open-files limit the box needs for its RTP range."""
    return rtp_port_count(config) + FD_MARGIN


def dump(config: dict[str, Any], sources: str) -> str:
    head = f"# Generated by uci2yaml from {sources}; edit those, not this file.\n"
    return head + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def validate(text: str, path: str) -> None:
    """Check the rendered text the way the box will read it (when sems_lite is importable)."""
    try:
        from sems_lite.config import ConfigError, parse_config
    except ImportError:
        return
    try:
        parse_config(text, path)
    except ConfigError as exc:
        raise UciError(f"the rendered config is not valid: {exc}") from None


def render(uci_text: str, address: str | None = None) -> tuple[str, int, dict[str, Any]]:
    """UCI text -> (YAML text of config_file with the overlay, nofile limit, settings)."""
    values = settings(parse_uci_show(uci_text))
    top = overlay(values, address)
    base_file = values["config_file"]
    try:
        with open(base_file, encoding="utf-8-sig") as f:
            base = yaml.safe_load(f) or {}
    except OSError as exc:
        raise UciError(f"{_opt('config_file')}: cannot read {base_file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UciError(f"{_opt('config_file')}: {base_file} is not YAML: {exc}") from None
    if not isinstance(base, dict):
        raise UciError(f"{_opt('config_file')}: {base_file} is not a YAML mapping")
    merged = merge(base, top)
    try:
        nofile = nofile_limit(merged)
    except ValueError:
        raise UciError(f"{base_file}: rtp.ports is not LOW-HIGH") from None
    return dump(merged, f"/etc/config/{PACKAGE} and {base_file}"), nofile, values


def _write_atomically(path: str, text: str) -> None:
    # procd checksums this file: it must never see half of it
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="uci2yaml", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("overlay", "render"))
    parser.add_argument("--uci", default="-", help="`uci show sems_lite` output (- = stdin)")
    parser.add_argument("--address", help="address of the UCI interface (network_get_ipaddr)")
    parser.add_argument("--out", help="render: file to write")
    args = parser.parse_args(argv)
    try:
        if args.uci == "-":
            uci_text = sys.stdin.read()
        else:
            with open(args.uci, encoding="utf-8") as f:
                uci_text = f.read()
        if args.command == "overlay":
            top = overlay(settings(parse_uci_show(uci_text)), args.address)
            sys.stdout.write(yaml.safe_dump(top, sort_keys=False, default_flow_style=False))
            return 0
        if not args.out:
            parser.error("render needs --out")
        text, nofile, _ = render(uci_text, args.address)
        validate(text, args.out)
        _write_atomically(args.out, text)
        print(nofile)
        return 0
    except (UciError, OSError) as exc:
        print(f"uci2yaml: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
