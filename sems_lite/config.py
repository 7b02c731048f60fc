"""YAML configuration -> frozen dataclasses, with errors that name file, line and key.

Rules this module keeps:
- The YAML is *composed*, not loaded, so every node keeps its line; we walk the node tree
  ourselves and let SafeConstructor build only scalars and the free per-app mappings.
- Every problem is one ConfigError whose str() is a single line:
  '<file>:<line>: <key path>: <problem>'.
- Validators of single values (listen strings, port ranges, log levels) raise ValueError
  with the problem text; the caller adds the location (file line or command-line flag).
- Nothing here opens sockets or imports app modules: apps are only name-checked.
"""

from __future__ import annotations

import ipaddress
import keyword
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

__all__ = [
    "KNOWN_CODECS",
    "LOG_LEVELS",
    "PTIMES",
    "RULE_KINDS",
    "Config",
    "ConfigError",
    "LimitsConfig",
    "ListenAddress",
    "RtpConfig",
    "Rule",
    "SipConfig",
    "apply_overrides",
    "drop_parser",
    "load_config",
    "parse_config",
]

# Codec names the config accepts (SDP encoding names, matched case-insensitively).
KNOWN_CODECS: tuple[str, ...] = ("PCMU", "PCMA", "L16", "telephone-event")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")
PTIMES: tuple[int, ...] = (10, 20, 30, 40)
RULE_KINDS: tuple[str, ...] = ("user", "domain", "regex", "header", "param")

_DEFAULT_LISTEN = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
_DEFAULT_APPS = {"echo": "apps.echo"}
_MIN_PORT = 1024
_MAX_PORT = 65535
_CLI = "<command line>"

_TOP_KEYS = (
    "sip",
    "rtp",
    "codecs",
    "limits",
    "log_level",
    "apps",
    "routing",
    "default_app",
    "app_config",
    "control",
    "auth",
)
_SIP_KEYS = ("listen", "user_agent", "public_address", "session_timer")
_TIMER_KEYS = ("enabled", "session_expires", "min_se", "refresher")
_AUTH_KEYS = ("realm", "users", "algorithms", "nonce_ttl")
_DIGEST_ALGORITHMS = ("SHA-256", "MD5", "SHA-256-sess", "MD5-sess")
_RTP_KEYS = ("ports", "ptime", "dead_rtp_timeout")
_LIMITS_KEYS = ("max_calls", "retry_after", "cps_limit", "max_transactions")
_CONTROL_KEYS = ("listen", "token")
_RULE_KEYS = (*RULE_KINDS, "value", "app", "auth")

# transport:host:port with an optional transport; IPv6 hosts must be bracketed.
_LISTEN_RE = re.compile(r"(?:([A-Za-z][A-Za-z0-9]*):)?(\[[^\]]*\]|[^:\[\]]+):([0-9]+)")
_PORTS_RE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)")
_HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# RFC 3261 'token': header names and URI parameter names.
_TOKEN_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_APP_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class ConfigError(Exception):
    """A configuration problem; str() is one line: '<file>:<line>: <key>: <problem>'."""

    def __init__(self, file: str, line: int | None, key: str | None, problem: str) -> None:
        # All four go to args so the exception survives pickling (multi-worker start).
        super().__init__(file, line, key, problem)
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.key}: {self.problem}" if self.key else self.problem
        return " ".join(f"{where}: {what}".split("\n"))


@dataclass(frozen=True)
class ListenAddress:
    transport: str  # 'udp' | 'tcp'
    host: str  # literal IP (IPv6 without brackets) or 'localhost'
    port: int


@dataclass(frozen=True)
class SessionTimerConfig:
    """RFC 4028 as UAS: the box always runs a timer, so a dead peer cannot hold a call."""

    enabled: bool = True
    session_expires: int = 1800  # seconds the box asks for when the caller names none
    min_se: int = 90  # shorter intervals are refused with 422
    refresher: str = "uac"  # who refreshes when the caller leaves it to us: uac or uas


@dataclass(frozen=True)
class SipConfig:
    listen: tuple[ListenAddress, ...]
    user_agent: str
    public_address: str | None  # IP (IPv6 without brackets) or host name
    session_timer: SessionTimerConfig = field(default_factory=SessionTimerConfig)


@dataclass(frozen=True)
class AuthConfig:
    """Digest credentials (RFC 7616) for the routing rules marked `auth: true`."""

    realm: str = "sems_lite"
    users: Mapping[str, str] = field(default_factory=dict)  # name -> password or "ha1:<hex>"
    algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    nonce_ttl: float = 300.0


@dataclass(frozen=True)
class RtpConfig:
    port_low: int
    port_high: int
    ptime: int
    dead_rtp_timeout: float  # seconds; 0 disables


@dataclass(frozen=True)
class LimitsConfig:
    max_calls: int
    retry_after: int
    cps_limit: float = 0.0  # new INVITEs per second (token bucket); 0: unlimited
    max_transactions: int = 2000  # server transactions in flight; past it new requests get 503


@dataclass(frozen=True)
class ControlConfig:
    host: str | None  # None: no control interface
    port: int
    token: str | None  # required when host is not loopback


@dataclass(frozen=True)
class Rule:
    kind: str  # one of RULE_KINDS
    values: tuple[str, ...]  # users; lower-cased domains; (pattern,); (header,); (param,)
    header_value: str | None  # header rules with `value`
    app: str | None  # None when the header value / R-URI parameter names the app
    auth: bool = False  # INVITEs matching this rule must carry digest credentials


@dataclass(frozen=True)
class Config:
    path: str
    sip: SipConfig
    rtp: RtpConfig
    codecs: tuple[str, ...]
    limits: LimitsConfig
    log_level: str
    apps: Mapping[str, str]  # app name -> dotted module name (read-only, in file order)
    routing: tuple[Rule, ...]
    default_app: str | None
    app_config: Mapping[str, Mapping[str, Any]]  # app name -> read-only free mapping
    control: ControlConfig = ControlConfig(None, 0, None)
    auth: AuthConfig = field(default_factory=AuthConfig)


# --- value validators: raise ValueError(problem); the caller knows the location ---------


def _parse_host(text: str) -> str:
    """A listen host: 'localhost' or a literal IP; IPv6 must come in brackets."""
    if text.lower() == "localhost":
        return "localhost"
    bracketed = text.startswith("[") and text.endswith("]")
    bare = text[1:-1] if bracketed else text
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or 'localhost'") from None
    if ip.version == 6 and not bracketed:
        raise ValueError(f"IPv6 address {text!r} must be in brackets, e.g. [{text}]")
    if ip.version == 4 and bracketed:
        raise ValueError(f"IPv4 address {text!r} must not be in brackets")
    return str(ip)


def _parse_listen(text: str) -> tuple[ListenAddress, ...]:
    """'udp:HOST:PORT' or 'tcp:HOST:PORT'; without a transport it means both."""
    m = _LISTEN_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(
            f"{text!r} is not TRANSPORT:HOST:PORT (e.g. udp:127.0.0.1:5060, tcp:[::1]:5060)"
        )
    transport, host_text, port_text = m.groups()
    transports: tuple[str, ...] = ("udp", "tcp")
    if transport is not None:
        transport = transport.lower()
        if transport not in transports:
            raise ValueError(f"{text!r}: unknown transport {transport!r} (use udp or tcp)")
        transports = (transport,)
    host = _parse_host(host_text)
    port = int(port_text)
    if not 1 <= port <= _MAX_PORT:
        raise ValueError(f"{text!r}: port {port} is outside 1..{_MAX_PORT}")
    return tuple(ListenAddress(t, host, port) for t in transports)


def _parse_control_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' for the control interface (IPv6 in brackets)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return _parse_host(host), int(port)


def _is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _parse_port_range(text: str) -> tuple[int, int]:
    m = _PORTS_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not LOW-HIGH (e.g. '10000-10999')")
    low, high = int(m.group(1)), int(m.group(2))
    if low < _MIN_PORT:
        raise ValueError(f"{text!r} has LOW below {_MIN_PORT}")
    if high > _MAX_PORT:
        raise ValueError(f"{text!r} has HIGH above {_MAX_PORT}")
    if low % 2:
        raise ValueError(f"{text!r} has an odd LOW (RTP ports are even, RTCP is RTP+1)")
    if high < low:
        raise ValueError(f"{text!r} has HIGH below LOW")
    if high == low:
        raise ValueError(f"{text!r} has HIGH equal to LOW (a call needs 2 ports: RTP+RTCP)")
    return low, high


def _parse_log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not a log level{_suggest(level, LOG_LEVELS)}")
    return level


def _parse_public_address(text: str) -> str:
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if len(text) <= 253 and all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        return text.rstrip(".").lower()
    raise ValueError(f"{text!r} is not an IP address or host name")


def _check_module_name(text: str) -> str:
    parts = text.split(".")
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise ValueError(f"{text!r} is not a dotted Python module name (e.g. apps.echo)")
    return text


def _suggest(word: str, choices: Iterable[str], *, listing: bool = True) -> str:
    """' (did you mean 'x'?)' or ' (expected one of: ...)', for the end of a message."""
    import difflib  # only for error messages

    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if listing and choices:
        return f" (expected one of: {', '.join(choices)})"
    return ""


# --- public API ----------------------------------------------------------------------------


# Modules that importing the parser brought in, while drop_parser() may forget them.
_parser_modules: list[str] = []


def _parser() -> ModuleType:
    """sems_lite.config_yaml, importing it (and the YAML package) when needed."""
    module = sys.modules.get("sems_lite.config_yaml")
    if module is not None:
        return module
    if "yaml" in sys.modules:  # someone else uses PyYAML too: leave it alone
        from sems_lite import config_yaml

        return config_yaml
    before = set(sys.modules)
    # libyaml's binding (yaml._yaml, which we do not use) is a C extension: it can never
    # be unloaded and holds on to the YAML package's classes, so they could not be freed.
    sys.modules["yaml._yaml"] = None  # type: ignore[assignment]
    try:
        from sems_lite import config_yaml
    finally:
        if "yaml._yaml" in sys.modules and sys.modules["yaml._yaml"] is None:
            del sys.modules["yaml._yaml"]
    _parser_modules[:] = sorted(set(sys.modules) - before)
    return config_yaml


def drop_parser() -> None:
    """Forget the YAML parser's modules once the config is read: the box runs without
    them, and what is imported next reuses their memory (0.8 MB RssAnon at start-up).
    The next parse imports them again. Only what `_parser` itself imported is dropped."""
    from sems_lite import memory

    memory.forget_modules(_parser_modules)
    _parser_modules.clear()


def parse_config(text: str, path: str = "<string>") -> Config:
    """Parse and validate config text; raises ConfigError naming path, line and key."""
    return _parser().parse(text, path)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and parse a config file; raises ConfigError (also for unreadable files)."""
    name = os.fspath(path)
    try:
        # utf-8-sig: editors on some routers' admin PCs write a BOM.
        with open(name, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(name, None, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(name, None, None, "is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(name, None, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(name, None, None, f"cannot read: {exc.strerror}") from None
    return parse_config(text, name)


def apply_overrides(
    cfg: Config,
    *,
    listen: list[str] | None = None,
    rtp_ports: str | None = None,
    log_level: str | None = None,
    control: str | None = None,
) -> Config:
    """Command-line flags win over the file. 'ADDR:PORT' without transport is udp+tcp;
    `control` is HOST:PORT or 'off'."""
    sip, rtp, level, ctl = cfg.sip, cfg.rtp, cfg.log_level, cfg.control
    if control is not None:
        if control == "off":
            ctl = ControlConfig(None, 0, None)
        else:
            try:
                host, port = _parse_control_listen(control)
            except ValueError as exc:
                raise ConfigError(_CLI, None, "--control", str(exc)) from None
            if not _is_loopback(host) and cfg.control.token is None:
                raise ConfigError(_CLI, None, "--control", "not loopback: set control.token")
            ctl = ControlConfig(host, port, cfg.control.token)
    if listen is not None:
        addrs: list[ListenAddress] = []
        if not listen:
            raise ConfigError(_CLI, None, "--listen", "at least one address is required")
        for text in listen:
            try:
                parsed = _parse_listen(text)
            except ValueError as exc:
                raise ConfigError(_CLI, None, "--listen", str(exc)) from None
            for addr in parsed:
                if addr in addrs:
                    raise ConfigError(_CLI, None, "--listen", f"{text!r} is given twice")
                addrs.append(addr)
        sip = replace(sip, listen=tuple(addrs))
    if rtp_ports is not None:
        try:
            low, high = _parse_port_range(rtp_ports)
        except ValueError as exc:
            raise ConfigError(_CLI, None, "--rtp-ports", str(exc)) from None
        rtp = replace(rtp, port_low=low, port_high=high)
    if log_level is not None:
        try:
            level = _parse_log_level(log_level)
        except ValueError as exc:
            raise ConfigError(_CLI, None, "--log-level", str(exc)) from None
    return replace(cfg, sip=sip, rtp=rtp, log_level=level, control=ctl)
