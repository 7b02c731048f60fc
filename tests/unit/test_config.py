"""sems_lite.config: parsing, defaults, precise file:line:key errors and CLI overrides."""

from __future__ import annotations

import dataclasses
import importlib.util
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sems_lite.config import (
    ConfigError,
    ListenAddress,
    Rule,
    apply_overrides,
    load_config,
    parse_config,
)

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "etc" / "sems_lite.yaml"


def yml(text: str) -> str:
    """Dedent, so the first line of `text` is line 1 of the config."""
    return textwrap.dedent(text).lstrip("\n")


def error(text: str, path: str = "x.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(yml(text), path)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- good configs ----------------------------------------------------------------------


def test_default_file_parses_to_documented_values() -> None:
    cfg = load_config(DEFAULT_FILE)
    assert cfg.path == str(DEFAULT_FILE)
    assert cfg.sip.listen == (
        ListenAddress("udp", "127.0.0.1", 5060),
        ListenAddress("tcp", "127.0.0.1", 5060),
    )
    assert cfg.sip.user_agent == "sems_lite"
    assert cfg.sip.public_address is None
    assert (cfg.rtp.port_low, cfg.rtp.port_high, cfg.rtp.ptime) == (10000, 10999, 20)
    assert cfg.rtp.dead_rtp_timeout == 60
    assert cfg.codecs == ("PCMU", "PCMA", "telephone-event")
    assert (cfg.limits.max_calls, cfg.limits.retry_after) == (100, 5)
    assert cfg.log_level == "info"
    # Only modules that exist may be listed in the shipped file.
    assert dict(cfg.apps) == {
        "echo": "apps.echo",
        "announcement": "apps.announcement",
        "early_announce": "apps.early_announce",
        "precoded_announce": "apps.precoded_announce",
        "conference": "apps.conference",
        "webconference": "apps.webconference",
        "pin_collect": "apps.pin_collect",
        "conf_auth": "apps.conf_auth",
    }
    for module in cfg.apps.values():
        assert importlib.util.find_spec(module) is not None, module
    assert [(r.kind, r.values, r.app) for r in cfg.routing] == [
        ("user", ("echo",), "echo"),
        ("user", ("announcement", "announce"), "announcement"),
        ("user", ("early",), "early_announce"),
        ("user", ("precoded",), "precoded_announce"),
        ("user", ("pin",), "pin_collect"),
        ("user", ("confauth",), "conf_auth"),
        ("regex", ("^sips?:conf[-_.a-zA-Z0-9]*@",), "conference"),
        ("user", ("webconf",), "webconference"),
    ]
    assert cfg.default_app is None
    assert cfg.app_config["announcement"]["default_announce"] == "prompts/default.wav"
    assert (DEFAULT_FILE.parent / "prompts" / "default.wav").is_file()


def test_empty_text_gives_defaults_without_rules() -> None:
    cfg = parse_config("")
    assert cfg.path == "<string>"
    assert len(cfg.sip.listen) == 2
    assert dict(cfg.apps) == {"echo": "apps.echo"}
    assert cfg.routing == ()
    assert cfg.rtp.ptime == 20
    # Comment-only text and explicit empty sections mean the same.
    assert parse_config("# nothing\n") == cfg
    assert parse_config("sip:\nrtp: {}\nlimits:\n") == cfg


def test_full_config_parses_every_field() -> None:
    cfg = parse_config(
        yml(
            """
            sip:
              listen: ["udp:[::1]:5070", "tcp:10.0.0.1:5080", "localhost:5090"]
              user_agent: "box 1.0"
              public_address: "[2001:db8::1]"
            rtp:
              ports: "20000 - 20099"
              ptime: 40
              dead_rtp_timeout: 2.5
            codecs: [pcma, Telephone-Event]
            limits: {max_calls: 7, retry_after: 0}
            log_level: DEBUG
            apps:
              echo: apps.echo
              conf: my_pkg.conference
            routing:
              - user: [echo, "500"]
                app: echo
              - domain: [Conf.Example.COM]
                app: conf
              - regex: '^sips?:9'
                app: conf
              - header: X-App
                value: conference
                app: conf
              - header: X-Select
              - param: App
            default_app: echo
            app_config:
              conf:
                max_members: 10
                prompts: [a.wav, b.wav]
              echo:
            """
        ),
        "cfg.yaml",
    )
    assert cfg.sip.listen == (
        ListenAddress("udp", "::1", 5070),
        ListenAddress("tcp", "10.0.0.1", 5080),
        ListenAddress("udp", "localhost", 5090),
        ListenAddress("tcp", "localhost", 5090),
    )
    assert cfg.sip.user_agent == "box 1.0"
    assert cfg.sip.public_address == "2001:db8::1"
    assert (cfg.rtp.port_low, cfg.rtp.port_high) == (20000, 20099)
    assert cfg.rtp.ptime == 40
    assert cfg.rtp.dead_rtp_timeout == 2.5
    assert cfg.codecs == ("PCMA", "telephone-event")
    assert (cfg.limits.max_calls, cfg.limits.retry_after) == (7, 0)
    assert cfg.log_level == "debug"
    assert list(cfg.apps.items()) == [("echo", "apps.echo"), ("conf", "my_pkg.conference")]
    assert cfg.routing == (
        Rule("user", ("echo", "500"), None, "echo"),
        Rule("domain", ("conf.example.com",), None, "conf"),
        Rule("regex", ("^sips?:9",), None, "conf"),
        Rule("header", ("X-App",), "conference", "conf"),
        Rule("header", ("X-Select",), None, None),
        Rule("param", ("app",), None, None),
    )
    assert cfg.default_app == "echo"
    assert cfg.app_config["conf"] == {"max_members": 10, "prompts": ["a.wav", "b.wav"]}
    assert cfg.app_config["echo"] == {}


def test_config_is_immutable() -> None:
    cfg = parse_config("apps: {echo: apps.echo}\napp_config: {echo: {a: 1}}\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.log_level = "debug"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.apps["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.app_config["echo"]["a"] = 2  # type: ignore[index]


def test_hostname_public_address_and_single_string_listen() -> None:
    cfg = parse_config('sip: {listen: "tcp:0.0.0.0:5060", public_address: Sip.Example.org}')
    assert cfg.sip.listen == (ListenAddress("tcp", "0.0.0.0", 5060),)
    assert cfg.sip.public_address == "sip.example.org"


# --- errors: file, line, key, problem ---------------------------------------------------


def test_unknown_key_suggests_the_close_one() -> None:
    msg = error(
        """
        sip:
          user_agent: x
        limits:
          max_cals: 3
        """
    )
    assert msg == "x.yaml:4: limits.max_cals: unknown key (did you mean 'max_calls'?)"


def test_unknown_top_key_without_close_match_lists_the_keys() -> None:
    msg = error("zzz: 1\n")
    assert msg.startswith("x.yaml:1: zzz: unknown key (expected one of: sip, rtp, codecs,")


def test_error_attributes_and_pickling() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("rtp:\n  ptime: 25\n", "a.yaml")
    exc = info.value
    assert (exc.file, exc.line, exc.key) == ("a.yaml", 2, "rtp.ptime")
    assert exc.problem == "25 ms is not one of 10, 20, 30, 40"
    again = pickle.loads(pickle.dumps(exc))
    assert str(again) == str(exc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtp:\n  ptime: '20'\n", "x.yaml:2: rtp.ptime: expected an integer, got a string ('20')"),
        (
            "rtp:\n  ptime: true\n",
            "x.yaml:2: rtp.ptime: expected an integer, got a boolean ('true')",
        ),
        ("rtp:\n  ptime:\n", "x.yaml:2: rtp.ptime: expected an integer, got null"),
        (
            "rtp:\n  dead_rtp_timeout: soon\n",
            "x.yaml:2: rtp.dead_rtp_timeout: expected a number, got a string ('soon')",
        ),
        (
            "rtp:\n  dead_rtp_timeout: -1\n",
            "x.yaml:2: rtp.dead_rtp_timeout: must be >= 0 (0 disables)",
        ),
        ("rtp: [1, 2]\n", "x.yaml:1: rtp: expected a mapping, got a list"),
        (
            "sip:\n  listen: {udp: 1}\n",
            "x.yaml:2: sip.listen: expected a string or a list, got a mapping",
        ),
        ("sip:\n  listen: []\n", "x.yaml:2: sip.listen: at least one listen address is required"),
        (
            "sip:\n  user_agent: 12\n",
            "x.yaml:2: sip.user_agent: expected a string, got an integer ('12'); quote it",
        ),
        ("sip:\n  user_agent: ''\n", "x.yaml:2: sip.user_agent: must not be empty"),
        ("sip:\n  user_agent:\n", "x.yaml:2: sip.user_agent: expected a string, got null"),
        ("limits:\n  max_calls: 0\n", "x.yaml:2: limits.max_calls: 0 must be > 0"),
        ("limits:\n  retry_after: -2\n", "x.yaml:2: limits.retry_after: -2 must be >= 0"),
        (
            "codecs: PCMU\nrtp: {ptime: x}\n",
            "x.yaml:2: rtp.ptime: expected an integer, got a string ('x')",
        ),
        (
            "codecs: [PCMU, G729x]\n",
            "x.yaml:1: codecs[1]: unknown codec 'G729x' "
            "(expected one of: PCMU, PCMA, L16, telephone-event)",
        ),
        ("codecs: [PCMU, pcmu]\n", "x.yaml:1: codecs[1]: 'PCMU' is listed twice"),
        (
            "codecs: [telephone-event]\n",
            "x.yaml:1: codecs: needs at least one audio codec (e.g. PCMU)",
        ),
        (
            "log_level: 3\n",
            "x.yaml:1: log_level: expected a string, got an integer ('3'); quote it",
        ),
    ],
)
def test_bad_types_and_ranges(text: str, expected: str) -> None:
    assert error(text) == expected


def test_bad_log_level_suggests() -> None:
    assert error("log_level: warn\n") == (
        "x.yaml:1: log_level: 'warn' is not a log level (did you mean 'warning'?)"
    )
    assert error("log_level: loud\n") == (
        "x.yaml:1: log_level: 'loud' is not a log level "
        "(expected one of: debug, info, warning, error)"
    )


def test_duplicate_key_names_the_first_line() -> None:
    msg = error("rtp:\n  ptime: 20\n  ptime: 30\n")
    assert msg == "x.yaml:3: rtp.ptime: duplicate key (first given on line 2)"


@pytest.mark.parametrize(
    ("ports", "problem"),
    [
        ("10000-9000", "'10000-9000' has HIGH below LOW"),
        ("10001-10999", "'10001-10999' has an odd LOW (RTP ports are even, RTCP is RTP+1)"),
        ("1000-1999", "'1000-1999' has LOW below 1024"),
        ("60000-70000", "'60000-70000' has HIGH above 65535"),
        ("10000-10000", "'10000-10000' has HIGH equal to LOW (a call needs 2 ports: RTP+RTCP)"),
        ("10000", "'10000' is not LOW-HIGH (e.g. '10000-10999')"),
        ("a-b", "'a-b' is not LOW-HIGH (e.g. '10000-10999')"),
    ],
)
def test_bad_port_ranges(ports: str, problem: str) -> None:
    msg = error(f"# rtp\nrtp:\n  ptime: 20\n  ports: '{ports}'\n")
    assert msg == f"x.yaml:4: rtp.ports: {problem}"


def test_port_range_must_be_a_string() -> None:
    assert error("rtp: {ports: 10000}\n") == (
        "x.yaml:1: rtp.ports: expected a string, got an integer ('10000'); quote it"
    )


@pytest.mark.parametrize(
    ("listen", "problem"),
    [
        ("udp:999.1.1.1:5060", "'999.1.1.1' is not an IP address or 'localhost'"),
        ("udp:example.com:5060", "'example.com' is not an IP address or 'localhost'"),
        ("sctp:127.0.0.1:5060", "'sctp:127.0.0.1:5060': unknown transport 'sctp' (use udp or tcp)"),
        ("udp:127.0.0.1:70000", "'udp:127.0.0.1:70000': port 70000 is outside 1..65535"),
        ("udp:127.0.0.1:0", "'udp:127.0.0.1:0': port 0 is outside 1..65535"),
        (
            "udp:127.0.0.1",
            "'udp:127.0.0.1' is not TRANSPORT:HOST:PORT (e.g. udp:127.0.0.1:5060, tcp:[::1]:5060)",
        ),
        (
            "udp:::1:5060",
            "'udp:::1:5060' is not TRANSPORT:HOST:PORT (e.g. udp:127.0.0.1:5060, tcp:[::1]:5060)",
        ),
        ("udp:[127.0.0.1]:5060", "IPv4 address '[127.0.0.1]' must not be in brackets"),
    ],
)
def test_bad_listen_strings(listen: str, problem: str) -> None:
    text = f'sip:\n  listen:\n    - "udp:127.0.0.1:5060"\n    - "{listen}"\n'
    assert error(text) == f"x.yaml:4: sip.listen[1]: {problem}"


def test_listen_duplicate_is_an_error() -> None:
    msg = error('sip:\n  listen: ["udp:127.0.0.1:5060", "127.0.0.1:5060"]\n')
    assert msg == "x.yaml:2: sip.listen[1]: '127.0.0.1:5060' is listed twice"


def test_bad_public_address() -> None:
    assert error("sip:\n  public_address: 'a b'\n") == (
        "x.yaml:2: sip.public_address: 'a b' is not an IP address or host name"
    )


def test_bad_yaml_reports_the_line() -> None:
    msg = error(
        """
        sip:
          user_agent: x
        rtp:
          ports: [1, 2
        limits: {}
        """
    )
    assert msg.startswith("x.yaml:5: YAML syntax error: ")
    assert error("a: b: c\n").startswith("x.yaml:1: YAML syntax error: mapping values")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value) == f"{missing}: file not found"
    assert info.value.line is None


def test_load_config_reports_its_path(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("rtp:\n  ports: '10000-9000'\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}:2: rtp.ports: '10000-9000' has HIGH below LOW"
    path.write_bytes(b"\xef\xbb\xbflog_level: error\n")  # a BOM is accepted
    assert load_config(path).log_level == "error"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a file"
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"log_level: info # caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value) == f"{bad}: not UTF-8 text (byte 21)"


# --- apps and routing errors ------------------------------------------------------------

APPS = "apps:\n  echo: apps.echo\n  conference: apps.conference\n"


def test_apps_must_not_be_empty_and_modules_must_be_dotted_names() -> None:
    assert error("apps: {}\n") == "x.yaml:1: apps: at least one app is required"
    assert error("apps:\n") == "x.yaml:1: apps: at least one app is required"
    assert error("apps:\n  echo: apps.9echo\n") == (
        "x.yaml:2: apps.echo: 'apps.9echo' is not a dotted Python module name (e.g. apps.echo)"
    )
    assert error("apps:\n  echo: apps.class\n").startswith("x.yaml:2: apps.echo: 'apps.class'")
    assert (
        error("apps:\n  'a b': apps.echo\n") == "x.yaml:2: apps.a b: 'a b' is not a valid app name"
    )


def test_unknown_app_in_rule_suggests_and_lists() -> None:
    msg = error(APPS + "routing:\n  - user: x\n    app: conferense\n")
    assert msg == (
        "x.yaml:6: routing[0].app: unknown app 'conferense' (did you mean 'conference'?) "
        "(configured apps: echo, conference)"
    )


def test_unknown_default_app() -> None:
    msg = error(APPS + "default_app: voicemail\n")
    assert msg == (
        "x.yaml:4: default_app: unknown app 'voicemail' (configured apps: echo, conference)"
    )


def test_rule_with_two_matchers_points_at_the_second() -> None:
    msg = error(APPS + "routing:\n  - user: a\n    app: echo\n  - user: b\n    domain: c\n")
    assert msg == (
        "x.yaml:8: routing[1]: rule has two matchers ('user' and 'domain'); "
        "use one rule per matcher"
    )


def test_rule_without_matcher() -> None:
    msg = error(APPS + "routing:\n  - app: echo\n")
    assert msg == "x.yaml:5: routing[0]: rule needs one matcher: user, domain, regex, header, param"


def test_rule_unknown_key() -> None:
    msg = error(APPS + "routing:\n  - usr: a\n    app: echo\n")
    assert msg == "x.yaml:5: routing[0].usr: unknown key (did you mean 'user'?)"


def test_bad_regex() -> None:
    msg = error(APPS + "routing:\n  - regex: '^sip:(9'\n    app: echo\n")
    assert msg.startswith("x.yaml:5: routing[0].regex: bad regex '^sip:(9': missing ), ")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "  - user: a\n",
            "x.yaml:5: routing[0]: rule needs 'app' (which app a 'user' match selects)",
        ),
        (
            "  - param: app\n    app: echo\n",
            "x.yaml:6: routing[0].app: must be absent: the R-URI parameter names the app",
        ),
        (
            "  - header: X-App\n    app: echo\n",
            "x.yaml:6: routing[0].app: must be absent: the header's value names the app",
        ),
        (
            "  - user: a\n    value: b\n    app: echo\n",
            "x.yaml:6: routing[0].value: 'value' only goes with 'header'",
        ),
        ("  - user: []\n    app: echo\n", "x.yaml:5: routing[0].user: the list is empty"),
        (
            "  - domain: [a, 3]\n    app: echo\n",
            "x.yaml:5: routing[0].domain[1]: expected a string, got an integer ('3'); quote it",
        ),
        (
            "  - header: 'X App'\n    value: a\n    app: echo\n",
            "x.yaml:5: routing[0].header: 'X App' is not a valid header name",
        ),
        ("  - echo\n", "x.yaml:5: routing[0]: expected a rule mapping, got a string ('echo')"),
    ],
)
def test_rule_shape_errors(rule: str, expected: str) -> None:
    assert error(APPS + "routing:\n" + rule) == expected


def test_routing_must_be_a_list() -> None:
    assert error(APPS + "routing: {user: a}\n") == (
        "x.yaml:4: routing: expected a list of rules, got a mapping"
    )


def test_app_config_keys_must_be_apps_and_values_mappings() -> None:
    assert error(APPS + "app_config:\n  echoo: {}\n") == (
        "x.yaml:5: app_config.echoo: not a configured app (did you mean 'echo'?)"
    )
    assert error(APPS + "app_config:\n  echo: [1]\n") == (
        "x.yaml:5: app_config.echo: expected a mapping, got a list"
    )


# --- command-line overrides ---------------------------------------------------------------


def test_overrides_replace_listen_ports_and_level() -> None:
    base = parse_config("")
    cfg = apply_overrides(
        base, listen=["0.0.0.0:5080", "udp:[::1]:5090"], rtp_ports="30000-30101", log_level="ERROR"
    )
    assert cfg.sip.listen == (
        ListenAddress("udp", "0.0.0.0", 5080),
        ListenAddress("tcp", "0.0.0.0", 5080),
        ListenAddress("udp", "::1", 5090),
    )
    assert (cfg.rtp.port_low, cfg.rtp.port_high) == (30000, 30101)
    assert cfg.log_level == "error"
    # Everything else is kept, and the original is untouched.
    assert cfg.rtp.ptime == base.rtp.ptime
    assert cfg.apps == base.apps
    assert base.log_level == "info"
    assert apply_overrides(base) == base


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"rtp_ports": "10000-9000"},
            "<command line>: --rtp-ports: '10000-9000' has HIGH below LOW",
        ),
        (
            {"listen": ["tls:127.0.0.1:5061"]},
            "<command line>: --listen: 'tls:127.0.0.1:5061': unknown transport 'tls' "
            "(use udp or tcp)",
        ),
        ({"listen": []}, "<command line>: --listen: at least one address is required"),
        (
            {"listen": ["127.0.0.1:5060", "udp:127.0.0.1:5060"]},
            "<command line>: --listen: 'udp:127.0.0.1:5060' is given twice",
        ),
        (
            {"log_level": "verbose"},
            "<command line>: --log-level: 'verbose' is not a log level "
            "(expected one of: debug, info, warning, error)",
        ),
    ],
)
def test_bad_overrides(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(parse_config(""), **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == expected
    assert info.value.file == "<command line>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<<: {a: 1}\n", "x.yaml:1: YAML merge keys ('<<') are not supported"),
        ("? [a]\n: 1\n", "x.yaml:1: keys must be names, not a list"),
        ("rtp: !foo 3\n", "x.yaml:1: rtp: expected a mapping, got a value tagged '!foo'"),
        (
            "log_level: info\nrtp\x01: 1\n",
            "x.yaml:2: character U+0001 is not allowed in YAML "
            "(special characters are not allowed)",
        ),
        ("- 1\n", "x.yaml:1: expected a mapping, got a list"),
        (
            "apps: {echo: apps.echo}\napp_config:\n  echo: {a: !!int x}\n",
            "x.yaml:3: app_config.echo: invalid literal for int() with base 10: 'x'",
        ),
    ],
)
def test_odd_yaml_is_reported_not_raised(text: str, expected: str) -> None:
    assert error(text) == expected


def test_second_document_is_a_syntax_error() -> None:
    assert error("log_level: info\n---\nlog_level: debug\n").startswith(
        "x.yaml:2: YAML syntax error: but found another document"
    )


def run_fresh(code: str) -> str:
    """stdout of `code` in a fresh interpreter: pytest's has PyYAML imported already."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_yaml_parser_is_dropped_after_the_load_and_comes_back_for_the_next() -> None:
    out = run_fresh(
        """
        import sys
        from sems_lite import config
        first = config.load_config("etc/sems_lite.yaml")
        assert "yaml" in sys.modules and "yaml._yaml" not in sys.modules
        config.drop_parser()
        left = sorted(m for m in sys.modules if m.startswith(("yaml", "sems_lite.config_")))
        assert left == [], left
        assert not hasattr(sys.modules["sems_lite"], "config_yaml")
        assert config.load_config("etc/sems_lite.yaml") == first
        try:
            config.parse_config("rtp: [", "x.yaml")
        except config.ConfigError as exc:
            print(exc)
        """
    )
    assert out.startswith("x.yaml:1: YAML syntax error")


def test_parser_leaves_a_yaml_imported_elsewhere_alone() -> None:
    out = run_fresh(
        """
        import sys
        import yaml
        from sems_lite import config
        config.parse_config("log_level: debug")
        config.drop_parser()
        assert sys.modules["yaml"] is yaml
        print(hasattr(yaml, "CSafeLoader") == yaml.__with_libyaml__)
        """
    )
    assert out.strip() == "True"
