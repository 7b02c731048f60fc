"""The YAML side of the configuration: compose the text, walk the node tree, build Config.

Imported only while a config is parsed (sems_lite.config.parse_config imports it): the
YAML parser is needed at start and on reload, not while the box runs, so `cli` drops
these modules after the load (`config.drop_parser`) and the memory they held is reused
by the modules imported after them. Rules: those of sems_lite.config.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sems_lite.config import (
    _APP_NAME_RE,
    _AUTH_KEYS,
    _CONTROL_KEYS,
    _DEFAULT_APPS,
    _DEFAULT_LISTEN,
    _DIGEST_ALGORITHMS,
    _LIMITS_KEYS,
    _RTP_KEYS,
    _RULE_KEYS,
    _SIP_KEYS,
    _TIMER_KEYS,
    _TOKEN_RE,
    _TOP_KEYS,
    KNOWN_CODECS,
    PTIMES,
    RULE_KINDS,
    AuthConfig,
    Config,
    ConfigError,
    ControlConfig,
    LimitsConfig,
    ListenAddress,
    RtpConfig,
    Rule,
    SessionTimerConfig,
    SipConfig,
    _check_module_name,
    _is_loopback,
    _parse_control_listen,
    _parse_listen,
    _parse_log_level,
    _parse_port_range,
    _parse_public_address,
    _suggest,
)

__all__ = ["parse"]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if not node.tag.startswith("tag:yaml.org,2002:"):
        return f"a value tagged {node.tag!r}"
    tag = node.tag.rsplit(":", 1)[-1]
    name = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "null": "null",
    }.get(tag, f"a {tag}")
    if tag != "null":
        name += f" ({node.value!r})"
    return name


# --- the node walker ---------------------------------------------------------------------

_Entries = dict[str, tuple[ScalarNode, Node]]
_T = TypeVar("_T")


class _Walker:
    """Turns a composed YAML tree into a Config; every error carries the node's line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.ctor = yaml.constructor.SafeConstructor()
        self.apps: Mapping[str, str] = MappingProxyType({})

    def fail(self, node: Node | None, key: str | None, problem: str) -> ConfigError:
        line = None if node is None else node.start_mark.line + 1
        return ConfigError(self.file, line, key, problem)

    # -- shapes --

    def mapping(self, node: Node | None, path: str, allowed: tuple[str, ...] | None) -> _Entries:
        """Key -> (key node, value node); null counts as an empty mapping."""
        if node is None or self.is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.fail(node, path or None, f"expected a mapping, got {_kind(node)}")
        entries: _Entries = {}
        for knode, vnode in node.value:
            if isinstance(knode, ScalarNode) and knode.tag.endswith(":merge"):
                raise self.fail(knode, path or None, "YAML merge keys ('<<') are not supported")
            if not isinstance(knode, ScalarNode):
                raise self.fail(knode, path or None, f"keys must be names, not {_kind(knode)}")
            # Raw text, so 'on:' or '1:' stay the names the user wrote, not True / 1.
            key = knode.value
            kpath = _join(path, key)
            if allowed is not None and key not in allowed:
                raise self.fail(knode, kpath, "unknown key" + _suggest(key, allowed))
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                raise self.fail(knode, kpath, f"duplicate key (first given on line {first})")
            entries[key] = (knode, vnode)
        return entries

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def scalar(self, node: Node, path: str) -> Any:
        try:
            return self.ctor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError) as exc:  # e.g. '!!int x'
            raise self.fail(node, path, str(getattr(exc, "problem", exc))) from None

    def string(self, node: Node, path: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            # A number or yes/no where text was meant: quoting makes it a string.
            quotable = isinstance(node, ScalarNode) and not self.is_null(node)
            hint = "; quote it" if quotable else ""
            raise self.fail(node, path, f"expected a string, got {_kind(node)}{hint}")
        return node.value

    def nonempty_string(self, node: Node, path: str) -> str:
        text = self.string(node, path)
        if not text.strip():
            raise self.fail(node, path, "must not be empty")
        return text

    def integer(self, node: Node, path: str) -> int:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise self.fail(node, path, f"expected an integer, got {_kind(node)}")
        return int(self.scalar(node, path))

    def number(self, node: Node, path: str) -> float:
        tags = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            raise self.fail(node, path, f"expected a number, got {_kind(node)}")
        value = float(self.scalar(node, path))
        if not math.isfinite(value):
            raise self.fail(node, path, f"{node.value!r} is not a finite number")
        return value

    def strings(self, node: Node, path: str) -> list[tuple[Node, str, str]]:
        """A string or a non-empty list of strings -> [(node, value, key path)]."""
        if isinstance(node, ScalarNode):
            return [(node, self.nonempty_string(node, path), path)]
        if not isinstance(node, SequenceNode):
            raise self.fail(node, path, f"expected a string or a list, got {_kind(node)}")
        if not node.value:
            raise self.fail(node, path, "the list is empty")
        out = []
        for i, item in enumerate(node.value):
            ipath = f"{path}[{i}]"
            out.append((item, self.nonempty_string(item, ipath), ipath))
        return out

    def checked(self, node: Node, path: str, check: Callable[[str], _T], value: str) -> _T:
        try:
            return check(value)
        except ValueError as exc:
            raise self.fail(node, path, str(exc)) from None

    # -- sections --

    def config(self, root: Node | None) -> Config:
        top = self.mapping(root, "", _TOP_KEYS)
        sip = self.sip(top.get("sip"))
        rtp = self.rtp(top.get("rtp"))
        codecs = self.codecs(top.get("codecs"))
        limits = self.limits(top.get("limits"))
        log_level = "info"
        if "log_level" in top:
            node = top["log_level"][1]
            log_level = self.checked(
                node, "log_level", _parse_log_level, self.string(node, "log_level")
            )
        self.apps = self.app_table(top.get("apps"))
        routing = self.routing(top.get("routing"))
        default_app = None
        if "default_app" in top and not self.is_null(top["default_app"][1]):
            default_app = self.app_ref(top["default_app"][1], "default_app")
        app_config = self.app_config(top.get("app_config"))
        control = self.control(top.get("control"))
        auth = self.auth(top.get("auth"))
        if not auth.users:
            for i, rule in enumerate(routing):
                if rule.auth:
                    raise self.fail(
                        top["routing"][1].value[i],
                        f"routing[{i}].auth",
                        "needs users to check against: set auth.users",
                    )
        return Config(
            path=self.file,
            sip=sip,
            rtp=rtp,
            codecs=codecs,
            limits=limits,
            log_level=log_level,
            apps=self.apps,
            routing=routing,
            default_app=default_app,
            app_config=app_config,
            control=control,
            auth=auth,
        )

    def boolean(self, node: Node, path: str) -> bool:
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, path, f"expected true or false, got {_kind(node)}")
        return bool(self.scalar(node, path))

    def session_timer(self, entry: tuple[Node, Node] | None) -> SessionTimerConfig:
        m = self.mapping(entry and entry[1], "sip.session_timer", _TIMER_KEYS)
        found: dict[str, Any] = {}
        if "enabled" in m:
            found["enabled"] = self.boolean(m["enabled"][1], "sip.session_timer.enabled")
        for key in ("session_expires", "min_se"):
            if key in m:
                node = m[key][1]
                found[key] = self.integer(node, f"sip.session_timer.{key}")
                if found[key] < 90:
                    raise self.fail(node, f"sip.session_timer.{key}", "must be >= 90 (RFC 4028)")
        if "refresher" in m:
            node = m["refresher"][1]
            found["refresher"] = self.string(node, "sip.session_timer.refresher")
            if found["refresher"] not in ("uac", "uas"):
                raise self.fail(node, "sip.session_timer.refresher", "must be 'uac' or 'uas'")
        timer = SessionTimerConfig(**found)
        if timer.min_se > timer.session_expires:
            node = m["min_se"][1] if "min_se" in m else entry and entry[1]
            raise self.fail(node, "sip.session_timer.min_se", "must not exceed session_expires")
        return timer

    def auth(self, entry: tuple[Node, Node] | None) -> AuthConfig:
        m = self.mapping(entry and entry[1], "auth", _AUTH_KEYS)
        found: dict[str, Any] = {}
        if "realm" in m:
            node = m["realm"][1]
            realm = self.nonempty_string(node, "auth.realm")
            if any(c in realm for c in '"\\\r\n'):
                raise self.fail(node, "auth.realm", "must not contain quotes or backslashes")
            found["realm"] = realm
        if "users" in m:
            users = {}
            for name, (_key, vnode) in self.mapping(m["users"][1], "auth.users", None).items():
                users[name] = self.nonempty_string(vnode, f"auth.users.{name}")
            found["users"] = MappingProxyType(users)
        if "algorithms" in m:
            algorithms = []
            for item, text, path in self.strings(m["algorithms"][1], "auth.algorithms"):
                canonical = {a.upper(): a for a in _DIGEST_ALGORITHMS}.get(text.strip().upper())
                if canonical is None:
                    raise self.fail(item, path, f"{text!r} is not one of {_DIGEST_ALGORITHMS}")
                algorithms.append(canonical)
            found["algorithms"] = tuple(algorithms)
        if "nonce_ttl" in m:
            node = m["nonce_ttl"][1]
            found["nonce_ttl"] = self.number(node, "auth.nonce_ttl")
            if found["nonce_ttl"] <= 0:
                raise self.fail(node, "auth.nonce_ttl", "must be > 0")
        return AuthConfig(**found)

    def control(self, entry: tuple[Node, Node] | None) -> ControlConfig:
        m = self.mapping(entry and entry[1], "control", _CONTROL_KEYS)
        host, port, token = None, 0, None
        if "token" in m and not self.is_null(m["token"][1]):
            token = self.nonempty_string(m["token"][1], "control.token")
        if "listen" in m and not self.is_null(m["listen"][1]):
            node = m["listen"][1]
            host, port = self.checked(
                node, "control.listen", _parse_control_listen, self.string(node, "control.listen")
            )
            if not _is_loopback(host) and token is None:
                raise self.fail(
                    node, "control.listen", f"{host} is not loopback: set control.token too"
                )
        return ControlConfig(host, port, token)

    def sip(self, entry: tuple[Node, Node] | None) -> SipConfig:
        m = self.mapping(entry and entry[1], "sip", _SIP_KEYS)
        listen: list[ListenAddress] = []
        if "listen" in m:
            node = m["listen"][1]
            if isinstance(node, SequenceNode) and not node.value:
                raise self.fail(node, "sip.listen", "at least one listen address is required")
            for item, text, path in self.strings(node, "sip.listen"):
                for addr in self.checked(item, path, _parse_listen, text):
                    if addr in listen:
                        raise self.fail(item, path, f"{text!r} is listed twice")
                    listen.append(addr)
        else:
            for text in _DEFAULT_LISTEN:
                listen.extend(_parse_listen(text))
        user_agent = "sems_lite"
        if "user_agent" in m:
            node = m["user_agent"][1]
            user_agent = self.nonempty_string(node, "sip.user_agent").strip()
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in user_agent):
                raise self.fail(node, "sip.user_agent", "must not contain control characters")
        public_address = None
        if "public_address" in m and not self.is_null(m["public_address"][1]):
            node = m["public_address"][1]
            text = self.nonempty_string(node, "sip.public_address").strip()
            public_address = self.checked(node, "sip.public_address", _parse_public_address, text)
        timer = self.session_timer(m.get("session_timer"))
        return SipConfig(tuple(listen), user_agent, public_address, timer)

    def rtp(self, entry: tuple[Node, Node] | None) -> RtpConfig:
        m = self.mapping(entry and entry[1], "rtp", _RTP_KEYS)
        low, high = 10000, 10999
        if "ports" in m:
            node = m["ports"][1]
            low, high = self.checked(
                node, "rtp.ports", _parse_port_range, self.string(node, "rtp.ports")
            )
        ptime = 20
        if "ptime" in m:
            node = m["ptime"][1]
            ptime = self.integer(node, "rtp.ptime")
            if ptime not in PTIMES:
                choices = ", ".join(map(str, PTIMES))
                raise self.fail(node, "rtp.ptime", f"{ptime} ms is not one of {choices}")
        dead = 60.0
        if "dead_rtp_timeout" in m:
            node = m["dead_rtp_timeout"][1]
            dead = self.number(node, "rtp.dead_rtp_timeout")
            if dead < 0:
                raise self.fail(node, "rtp.dead_rtp_timeout", "must be >= 0 (0 disables)")
        return RtpConfig(low, high, ptime, dead)

    def codecs(self, entry: tuple[Node, Node] | None) -> tuple[str, ...]:
        if entry is None:
            return KNOWN_CODECS
        canonical = {name.lower(): name for name in KNOWN_CODECS}
        out: list[str] = []
        for item, text, path in self.strings(entry[1], "codecs"):
            name = canonical.get(text.strip().lower())
            if name is None:
                raise self.fail(
                    item, path, f"unknown codec {text!r}" + _suggest(text, KNOWN_CODECS)
                )
            if name in out:
                raise self.fail(item, path, f"{name!r} is listed twice")
            out.append(name)
        if all(name == "telephone-event" for name in out):
            raise self.fail(entry[1], "codecs", "needs at least one audio codec (e.g. PCMU)")
        return tuple(out)

    def limits(self, entry: tuple[Node, Node] | None) -> LimitsConfig:
        m = self.mapping(entry and entry[1], "limits", _LIMITS_KEYS)
        max_calls = 100
        if "max_calls" in m:
            node = m["max_calls"][1]
            max_calls = self.integer(node, "limits.max_calls")
            if max_calls <= 0:
                raise self.fail(node, "limits.max_calls", f"{max_calls} must be > 0")
        retry_after = 5
        if "retry_after" in m:
            node = m["retry_after"][1]
            retry_after = self.integer(node, "limits.retry_after")
            if retry_after < 0:
                raise self.fail(node, "limits.retry_after", f"{retry_after} must be >= 0")
        cps_limit = 0.0
        if "cps_limit" in m:
            node = m["cps_limit"][1]
            cps_limit = self.number(node, "limits.cps_limit")
            if cps_limit < 0:
                raise self.fail(
                    node, "limits.cps_limit", f"{cps_limit:g} must be >= 0 (0: no limit)"
                )
        max_txns = 2000
        if "max_transactions" in m:
            node = m["max_transactions"][1]
            max_txns = self.integer(node, "limits.max_transactions")
            if max_txns <= 0:
                raise self.fail(node, "limits.max_transactions", f"{max_txns} must be > 0")
        return LimitsConfig(max_calls, retry_after, cps_limit, max_txns)

    def app_table(self, entry: tuple[Node, Node] | None) -> Mapping[str, str]:
        if entry is None:
            return MappingProxyType(dict(_DEFAULT_APPS))
        m = self.mapping(entry[1], "apps", None)
        if not m:
            raise self.fail(entry[1], "apps", "at least one app is required")
        apps: dict[str, str] = {}
        for name, (knode, vnode) in m.items():
            path = f"apps.{name}"
            if not _APP_NAME_RE.fullmatch(name):
                raise self.fail(knode, path, f"{name!r} is not a valid app name")
            text = self.nonempty_string(vnode, path).strip()
            apps[name] = self.checked(vnode, path, _check_module_name, text)
        return MappingProxyType(apps)

    def app_ref(self, node: Node, path: str) -> str:
        name = self.nonempty_string(node, path).strip()
        if name not in self.apps:
            hint = _suggest(name, self.apps, listing=False)
            known = ", ".join(self.apps)
            raise self.fail(node, path, f"unknown app {name!r}{hint} (configured apps: {known})")
        return name

    def routing(self, entry: tuple[Node, Node] | None) -> tuple[Rule, ...]:
        if entry is None or self.is_null(entry[1]):
            return ()
        node = entry[1]
        if not isinstance(node, SequenceNode):
            raise self.fail(node, "routing", f"expected a list of rules, got {_kind(node)}")
        return tuple(self.rule(item, f"routing[{i}]") for i, item in enumerate(node.value))

    def rule(self, node: Node, path: str) -> Rule:
        if not isinstance(node, MappingNode):
            raise self.fail(node, path, f"expected a rule mapping, got {_kind(node)}")
        m = self.mapping(node, path, _RULE_KEYS)
        matchers = [k for k in m if k in RULE_KINDS]
        if not matchers:
            raise self.fail(node, path, "rule needs one matcher: " + ", ".join(RULE_KINDS))
        if len(matchers) > 1:
            first, second = matchers[:2]
            raise self.fail(
                m[second][0],
                path,
                f"rule has two matchers ({first!r} and {second!r}); use one rule per matcher",
            )
        kind = matchers[0]
        vnode = m[kind][1]
        vpath = f"{path}.{kind}"
        header_value = None
        if "value" in m and kind != "header":
            raise self.fail(m["value"][0], f"{path}.value", "'value' only goes with 'header'")

        if kind in ("user", "domain"):
            texts = [t.strip() for _, t, _ in self.strings(vnode, vpath)]
            values = tuple(t.lower() for t in texts) if kind == "domain" else tuple(texts)
        elif kind == "regex":
            pattern = self.nonempty_string(vnode, vpath)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(vnode, vpath, f"bad regex {pattern!r}: {exc}") from None
            values = (pattern,)
        else:
            name = self.nonempty_string(vnode, vpath).strip()
            if not _TOKEN_RE.fullmatch(name):
                what = "header" if kind == "header" else "URI parameter"
                raise self.fail(vnode, vpath, f"{name!r} is not a valid {what} name")
            values = (name.lower(),) if kind == "param" else (name,)
            if kind == "header" and "value" in m:
                header_value = self.nonempty_string(m["value"][1], f"{path}.value").strip()

        # header without `value` and param: the request itself names the app.
        names_app = kind == "param" or (kind == "header" and header_value is None)
        app = None
        if names_app:
            if "app" in m:
                source = "R-URI parameter" if kind == "param" else "header's value"
                raise self.fail(
                    m["app"][0], f"{path}.app", f"must be absent: the {source} names the app"
                )
        elif "app" not in m:
            raise self.fail(node, path, f"rule needs 'app' (which app a {kind!r} match selects)")
        else:
            app = self.app_ref(m["app"][1], f"{path}.app")
        auth = "auth" in m and self.boolean(m["auth"][1], f"{path}.auth")
        return Rule(kind, values, header_value, app, auth)

    def app_config(self, entry: tuple[Node, Node] | None) -> Mapping[str, Mapping[str, Any]]:
        m = self.mapping(entry and entry[1], "app_config", None)
        out: dict[str, Mapping[str, Any]] = {}
        for name, (knode, vnode) in m.items():
            path = f"app_config.{name}"
            if name not in self.apps:
                hint = _suggest(name, self.apps, listing=False)
                raise self.fail(knode, path, f"not a configured app{hint}")
            if self.is_null(vnode):
                out[name] = MappingProxyType({})
                continue
            if not isinstance(vnode, MappingNode):
                raise self.fail(vnode, path, f"expected a mapping, got {_kind(vnode)}")
            try:
                value = self.ctor.construct_object(vnode, deep=True)
            except (yaml.YAMLError, ValueError, TypeError) as exc:
                bad = getattr(exc, "problem_mark", None)
                line = bad.line + 1 if bad is not None else vnode.start_mark.line + 1
                problem = str(getattr(exc, "problem", exc))
                raise ConfigError(self.file, line, path, problem) from None
            out[name] = MappingProxyType(value)
        return MappingProxyType(out)


def _compose(text: str, file: str) -> Node | None:
    try:
        # The pure-Python loader, so messages are the same with or without libyaml.
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            ctx = exc.context
            cmark = exc.context_mark
            if cmark is not None and mark is not None and cmark.line != mark.line:
                ctx += f" on line {cmark.line + 1}"
            problem += f" ({ctx})"
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, line, None, f"YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        problem = f"character {shown} is not allowed in YAML ({exc.reason})"
        raise ConfigError(file, line, None, problem) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise ConfigError(file, None, None, f"YAML error: {first}") from None


def parse(text: str, path: str) -> Config:
    """Compose and walk config text; raises ConfigError naming path, line and key."""
    return _Walker(path).config(_compose(text, path))
