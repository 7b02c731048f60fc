"""boards/package.py and boards/openwrt/: the .ipk of every board (layout, control file,
the board's .so checked with readelf), the procd init script run under sh against a
stubbed rc.common that records the procd_* calls, and the UCI -> YAML renderer."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from sems_lite.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
OPENWRT = ROOT / "boards" / "openwrt"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


package = _load("boards_package", ROOT / "boards" / "package.py")
uci2yaml = _load("uci2yaml", OPENWRT / "uci2yaml.py")
board_mod = package.board_mod
BOARDS = board_mod.names()
TARGET_PYTHON = shutil.which(f"python{package.PYTHON_VERSION}")
SITE = "./" + package.SITE


# --- the .ipk ------------------------------------------------------------------------


def _members(blob: bytes) -> dict[str, bytes | None]:
    """name -> content (None for directories) of a tar.gz."""
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isfile() else None
            out[info.name] = f.read() if f is not None else None
    return out


@pytest.fixture(scope="module")
def ipks(tmp_path_factory) -> dict[str, Path]:
    if TARGET_PYTHON is None:
        pytest.skip(f"no python{package.PYTHON_VERSION} to compile the router's bytecode")
    out = tmp_path_factory.mktemp("ipk")
    built = {}
    for name in BOARDS:
        if (ROOT / "build" / name / "libsems_kernels.so").is_file():
            built[name] = package.build_ipk(name, out / name, TARGET_PYTHON)
    return built


def _ipk(ipks: dict[str, Path], name: str) -> Path:
    if name not in ipks:
        pytest.skip(f"build/{name}/libsems_kernels.so missing: make cross BOARD={name}")
    return ipks[name]


@pytest.mark.parametrize("name", BOARDS)
def test_ipk_is_an_opkg_archive_with_the_boards_control_file(ipks, name):
    ipk = _ipk(ipks, name)
    b = board_mod.load(name)
    assert ipk.name == f"sems-lite_{package.version()}_{b['OPENWRT_ARCH']}.ipk"
    outer = _members(ipk.read_bytes())
    assert sorted(outer) == ["./control.tar.gz", "./data.tar.gz", "./debian-binary"]
    assert outer["./debian-binary"] == b"2.0\n"
    control = _members(outer["./control.tar.gz"])
    fields = dict(
        line.split(": ", 1) for line in control["./control"].decode().splitlines() if line
    )
    assert fields["Package"] == "sems-lite"
    assert fields["Version"] == package.version()
    assert fields["Architecture"] == b["OPENWRT_ARCH"]
    depends = [d.strip() for d in fields["Depends"].split(",")]
    for dep in ("python3-light", "python3-yaml", "python3-cffi", "python3-logging"):
        assert dep in depends
    assert fields["Require-User"].startswith("sems_lite")
    data = _members(outer["./data.tar.gz"])
    installed = sum(len(v) for v in data.values() if v is not None)
    assert int(fields["Installed-Size"]) == installed
    assert control["./conffiles"].decode().split() == list(package.CONFFILES)
    assert b"default_postinst" in control["./postinst"]


@pytest.mark.parametrize("name", BOARDS)
def test_ipk_holds_bytecode_the_boards_kernels_and_the_service(ipks, name, tmp_path):
    outer = _members(_ipk(ipks, name).read_bytes())
    data = _members(outer["./data.tar.gz"])
    for path in (
        "./usr/bin/sems-lite",
        "./usr/libexec/sems_lite/uci2yaml",
        "./etc/init.d/sems_lite",
        "./etc/config/sems_lite",
        "./etc/sems_lite/sems_lite.yaml",
        "./usr/share/sems_lite/prompts/default.wav",
        f"{SITE}/sems_lite/cli.pyc",
        f"{SITE}/sems_lite/sip/message.pyc",
        f"{SITE}/apps/echo.pyc",
        f"{SITE}/sems_lite/sems_kernels.h",
    ):
        assert data.get(path), path
    site_files = [p for p in data if p.startswith(SITE) and data[p] is not None]
    # bytecode only, and never the build host's compiled extension
    assert not [p for p in site_files if p.endswith(".py")]
    assert not [p for p in site_files if "_native" in p or "/tests/" in p]
    so = tmp_path / "libsems_kernels.so"
    so.write_bytes(data[f"{SITE}/sems_lite/libsems_kernels.so"])
    b = board_mod.load(name)
    elf = board_mod.ElfInfo.read(so)
    assert board_mod.check_so(b, elf, board_mod.kernel_functions()) == []
    # the router config carries the board's limits and is a valid sems_lite config
    text = data["./etc/sems_lite/sems_lite.yaml"].decode()
    config = parse_config(text, "sems_lite.yaml")
    assert (config.rtp.port_low, config.rtp.port_high) == board_mod.port_range(b)
    assert config.limits.max_calls == int(b["MAX_CALLS"])


def test_a_wrong_elf_in_the_package_is_caught(ipks, tmp_path):
    # the arm object checked against the big-endian MIPS board must fail
    outer = _members(_ipk(ipks, "ipq40xx-arm_cortex-a7").read_bytes())
    data = _members(outer["./data.tar.gz"])
    so = tmp_path / "libsems_kernels.so"
    so.write_bytes(data[f"{SITE}/sems_lite/libsems_kernels.so"])
    problems = board_mod.check_so(board_mod.load("ath79-mips_24kc"), board_mod.ElfInfo.read(so), [])
    assert any("Machine" in p for p in problems)


def test_x86_64_package_runs_from_its_bytecode_in_abi_mode(ipks, tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("the host cannot load the x86-64 object")
    outer = _members(_ipk(ipks, "x86-64").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(outer["./data.tar.gz"]), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / package.SITE), PYTHONNOUSERSITE="1")
    env.pop("SEMS_LITE_KERNELS", None)
    env.pop("SEMS_LITE_NATIVE", None)
    launcher = tmp_path / "usr/bin/sems-lite"
    run = [TARGET_PYTHON, "-s", str(launcher)]  # -s: no user site-packages
    out = subprocess.run(
        [*run, "--version"], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "native-abi" in out.stdout, out.stdout
    out = subprocess.run(
        [*run, "check-config", str(tmp_path / "etc/sems_lite/sems_lite.yaml")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    # the service as procd runs it: the installed renderer, then `sems-lite run`
    port = _free_udp_port()
    uci = _uci_show(
        {
            "config_file": str(tmp_path / "etc/sems_lite/sems_lite.yaml"),
            "listen": f"udp:127.0.0.1:{port}",
        }
    )
    rendered = tmp_path / "var/etc/sems_lite/sems_lite.yaml"
    render = [TARGET_PYTHON, "-s", str(tmp_path / "usr/libexec/sems_lite/uci2yaml")]
    subprocess.run(
        [*render, "render", "--out", str(rendered)], input=uci, env=env, text=True, check=True
    )
    box = subprocess.Popen(
        [*run, "run", "--config", str(rendered), "--control", "off"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        lines = []
        while not lines or ("listening on" not in lines[-1] and lines[-1] and len(lines) < 50):
            lines.append(box.stderr.readline())
        assert f"listening on udp:127.0.0.1:{port}" in lines[-1], lines
        assert _options(port).startswith(b"SIP/2.0 200")
    finally:
        box.terminate()
        box.wait(timeout=10)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(port: int) -> bytes:
    """Send one OPTIONS to 127.0.0.1:port and return the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(10)
        me = s.getsockname()[1]
        request = (
            f"OPTIONS sip:echo@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKpkgtest1\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:test@127.0.0.1:{me}>;tag=pkg1\r\n"
            f"To: <sip:echo@127.0.0.1:{port}>\r\n"
            "Call-ID: package-test-1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.sendto(request.encode(), ("127.0.0.1", port))
        return s.recvfrom(65535)[0]


def test_unknown_board_and_missing_build_are_reported(tmp_path):
    assert package.main(["no-such-board", "--out", str(tmp_path)]) == 1
    with pytest.raises(ValueError, match="unknown board"):
        package.build_ipk("no-such-board", tmp_path)


def test_router_yaml_refuses_a_file_without_the_limit_lines(monkeypatch, tmp_path):
    b = board_mod.load("x86-64")
    assert 'ports: "10000-11199"' in package.router_yaml(b)
    files = tmp_path / "files"
    files.mkdir()
    (files / "sems_lite.yaml").write_text("rtp:\n  ptime: 20\n")
    monkeypatch.setattr(package, "OPENWRT", tmp_path)
    with pytest.raises(ValueError, match="not found"):
        package.router_yaml(b)


# --- UCI -> YAML -----------------------------------------------------------------------


def _uci_show(options: dict[str, str | list[str]]) -> str:
    """What `uci show sems_lite` prints for the section `main`."""
    lines = ["sems_lite.main=sems_lite"]
    for key, value in options.items():
        items = value if isinstance(value, list) else [value]
        quoted = " ".join("'" + v.replace("'", "'\\''") + "'" for v in items)
        lines.append(f"sems_lite.main.{key}={quoted}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def base_yaml(tmp_path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text((OPENWRT / "files" / "sems_lite.yaml").read_text())
    return path


def test_parse_uci_show_reads_options_lists_and_quotes():
    text = _uci_show({"log_level": "debug", "listen": ["udp:1.2.3.4:5060", "tcp:1.2.3.4:5060"]})
    text += "sems_lite.main.advertised_address='it'\\''s'\n"
    parsed = uci2yaml.parse_uci_show(text)
    assert parsed["main"]["log_level"] == "debug"
    assert parsed["main"]["listen"] == ["udp:1.2.3.4:5060", "tcp:1.2.3.4:5060"]
    assert parsed["main"]["advertised_address"] == "it's"
    with pytest.raises(uci2yaml.UciError, match="line 1"):
        uci2yaml.parse_uci_show("network.lan.proto='static'\n")


def test_interface_address_becomes_udp_and_tcp_listen(base_yaml):
    uci = _uci_show({"config_file": str(base_yaml), "interface": "lan", "port": "5080"})
    text, nofile, values = uci2yaml.render(uci, "192.168.1.1")
    config = parse_config(text, "rendered.yaml")
    shown = [(a.transport, a.host, a.port) for a in config.sip.listen]
    assert shown == [("udp", "192.168.1.1", 5080), ("tcp", "192.168.1.1", 5080)]
    assert values["enabled"] is True
    # the rest of the base survives: the router's RTP range gives the descriptor limit
    assert config.rtp.port_low == 10000 and config.rtp.port_high == 10031
    assert nofile == 32 + uci2yaml.FD_MARGIN
    assert config.apps["echo"] == "apps.echo"
    v6 = uci2yaml.overlay(uci2yaml.settings(uci2yaml.parse_uci_show(uci)), "fd00::1")
    assert v6["sip"]["listen"][0] == "udp:[fd00::1]:5080"


def test_listen_list_advertised_address_and_log_level(base_yaml):
    uci = _uci_show(
        {
            "config_file": str(base_yaml),
            "interface": "lan",
            "listen": ["udp:10.0.0.1:5060"],
            "advertised_address": "203.0.113.7",
            "log_level": "WARNING",
        }
    )
    text, _, _ = uci2yaml.render(uci, None)  # explicit listen: no interface address needed
    config = parse_config(text, "rendered.yaml")
    assert [(a.transport, a.host) for a in config.sip.listen] == [("udp", "10.0.0.1")]
    assert config.sip.public_address == "203.0.113.7"
    assert config.log_level == "warning"


@pytest.mark.parametrize(
    ("options", "address", "message"),
    [
        ({"log_level": "verbose"}, "10.0.0.1", "log_level: 'verbose' is not a log level"),
        ({"log_level": "warn"}, "10.0.0.1", "did you mean 'warning'"),
        ({"port": "70000"}, "10.0.0.1", "sems_lite.main.port"),
        ({"enabled": "maybe"}, "10.0.0.1", "sems_lite.main.enabled"),
        ({"advertized_address": "1.2.3.4"}, "10.0.0.1", "did you mean 'advertised_address'"),
        ({"interface": "wan"}, "", "network 'wan' has no address"),
        ({"interface": "lan"}, "not-an-ip", "is not an IP address"),
        ({"config_file": "/nonexistent/x.yaml"}, "10.0.0.1", "cannot read"),
    ],
)
def test_bad_uci_values_name_the_option(base_yaml, options, address, message):
    uci = _uci_show({"config_file": str(base_yaml), "interface": "lan", **options})
    with pytest.raises(uci2yaml.UciError, match=message):
        uci2yaml.render(uci, address)


def test_render_command_writes_the_file_or_nothing(base_yaml, tmp_path, capsys):
    out = tmp_path / "run" / "sems_lite.yaml"
    good = tmp_path / "good.uci"
    good.write_text(_uci_show({"config_file": str(base_yaml), "interface": "lan"}))
    argv = ["render", "--uci", str(good), "--address", "10.0.0.1", "--out", str(out)]
    assert uci2yaml.main(argv) == 0
    assert capsys.readouterr().out.strip() == str(32 + uci2yaml.FD_MARGIN)
    assert "udp:10.0.0.1:5060" in out.read_text()
    # a listen value sems_lite refuses: reported, and the last good file stays
    bad = tmp_path / "bad.uci"
    bad.write_text(_uci_show({"config_file": str(base_yaml), "listen": "udp:nohost:5060"}))
    before = out.read_text()
    assert uci2yaml.main(["render", "--uci", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "rendered config is not valid" in err and "nohost" in err
    assert out.read_text() == before


def test_overlay_command_prints_only_the_uci_keys(tmp_path, capsys):
    uci = tmp_path / "u"
    uci.write_text(_uci_show({"interface": "lan", "log_level": "debug"}))
    assert uci2yaml.main(["overlay", "--uci", str(uci), "--address", "10.1.1.1"]) == 0
    top = yaml.safe_load(capsys.readouterr().out)
    assert top == {
        "sip": {"listen": ["udp:10.1.1.1:5060", "tcp:10.1.1.1:5060"]},
        "log_level": "debug",
    }


def test_merge_lays_mappings_over_and_replaces_the_rest():
    base = {"sip": {"listen": ["a"], "user_agent": "x"}, "codecs": ["PCMU", "PCMA"]}
    top = {"sip": {"listen": ["b"]}, "codecs": ["PCMA"]}
    assert uci2yaml.merge(base, top) == {
        "sip": {"listen": ["b"], "user_agent": "x"},
        "codecs": ["PCMA"],
    }
    assert base["sip"]["listen"] == ["a"]  # the base is not modified


# --- the init script under a stubbed rc.common ---------------------------------------------

STUB_RC_COMMON = r"""
# stands in for /etc/rc.common + /lib/functions.sh + procd.sh: records what the script asks
log() { printf '%s\n' "$*" >> "$PROCD_LOG"; }
procd_open_instance() { log "open_instance $*"; }
procd_close_instance() { log "close_instance"; }
procd_set_param() { log "set_param $*"; }
procd_add_reload_trigger() { log "reload_trigger $*"; }
procd_add_reload_interface_trigger() { log "interface_trigger $*"; }
config_load() { [ "$1" = sems_lite ] || exit 9; }
# UCI values come as UCI_<option> variables (lists space-separated)
config_get() {
  eval "_v=\${UCI_$3-}"
  [ -n "$_v" ] || _v="$4"
  eval "$1=\$_v"
}
config_get_bool() {
  config_get "$@"
  eval "case \$$1 in 1|on|yes|true|enabled) $1=1;; *) $1=0;; esac"
}
config_list_foreach() {
  eval "_items=\${UCI_$2-}"
  for _i in $_items; do "$3" "$_i"; done
}
uci() { printf '%s' "$UCI_SHOW"; }
"""

STUB_NETWORK = r"""
network_get_ipaddr() { eval "$1=\${NET_ADDR_$2-}"; }
"""


def _shells() -> list[str]:
    found = [s for s in ("sh", "busybox") if shutil.which(s)]
    return found or ["sh"]


def _run_init(tmp_path: Path, shell: str, options: dict[str, str], addresses: dict[str, str]):
    """Source the init script as rc.common does, run start_service and service_triggers;
    returns (exit status of start_service, recorded procd calls, stderr, run dir)."""
    run_dir = tmp_path / "var-etc"
    render = tmp_path / "uci2yaml"
    render.write_text(f'#!/bin/sh\nexec {sys.executable} {OPENWRT / "uci2yaml.py"} "$@"\n')
    render.chmod(0o755)
    (tmp_path / "network.sh").write_text(STUB_NETWORK)
    (tmp_path / "rc.common").write_text(STUB_RC_COMMON)
    script = (OPENWRT / "files" / "sems_lite.init").read_text()
    replacements = {
        "RENDER=/usr/libexec/sems_lite/uci2yaml": f"RENDER={render}",
        "RUN_DIR=/var/etc/sems_lite": f"RUN_DIR={run_dir}",
        "NETWORK_SH=/lib/functions/network.sh": f"NETWORK_SH={tmp_path / 'network.sh'}",
    }
    for old, new in replacements.items():
        assert old in script
        script = script.replace(old, new)
    (tmp_path / "sems_lite.init").write_text(script)
    log = tmp_path / "procd.log"
    log.write_text("")
    env = {"PATH": os.environ["PATH"], "PROCD_LOG": str(log)}
    env["UCI_SHOW"] = _uci_show(options)
    for key, value in options.items():
        env[f"UCI_{key}"] = value
    for iface, addr in addresses.items():
        env[f"NET_ADDR_{iface}"] = addr
    driver = (
        f". {tmp_path / 'rc.common'}; . {tmp_path / 'sems_lite.init'}; "
        "start_service; rc=$?; service_triggers; exit $rc"
    )
    argv = [shell, "-c", driver] if shell == "sh" else [shell, "sh", "-c", driver]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    return proc.returncode, log.read_text().splitlines(), proc.stderr, run_dir


@pytest.mark.parametrize("shell", _shells())
def test_init_script_starts_one_procd_instance(tmp_path, base_yaml, shell):
    options = {"config_file": str(base_yaml), "interface": "lan", "watch_interface": "wan"}
    rc, calls, err, run_dir = _run_init(tmp_path, shell, options, {"lan": "192.168.1.1"})
    assert rc == 0, err
    rendered = run_dir / "sems_lite.yaml"
    nofile = 32 + uci2yaml.FD_MARGIN
    assert calls == [
        "open_instance ",
        f"set_param command /usr/bin/sems-lite run --config {rendered}",
        "set_param env PYTHONUNBUFFERED=1",
        "set_param respawn 3600 5 5",
        "set_param stdout 1",
        "set_param stderr 1",
        f"set_param file {rendered} {base_yaml} /etc/config/sems_lite",
        f"set_param limits nofile={nofile} {nofile}",
        "set_param user sems_lite",
        "set_param group sems_lite",
        "close_instance",
        "reload_trigger sems_lite",
        "interface_trigger lan",
        "interface_trigger wan",
    ]
    config = parse_config(rendered.read_text(), str(rendered))
    assert [a.host for a in config.sip.listen] == ["192.168.1.1", "192.168.1.1"]


@pytest.mark.parametrize("shell", _shells())
def test_init_script_disabled_starts_nothing(tmp_path, base_yaml, shell):
    options = {"config_file": str(base_yaml), "interface": "lan", "enabled": "0"}
    rc, calls, _, _ = _run_init(tmp_path, shell, options, {"lan": "192.168.1.1"})
    assert rc == 0
    assert not [c for c in calls if c.startswith(("open_instance", "set_param"))]
    assert "reload_trigger sems_lite" in calls  # enabling it later reloads the service


@pytest.mark.parametrize("shell", _shells())
def test_init_script_waits_for_the_interface(tmp_path, base_yaml, shell):
    options = {"config_file": str(base_yaml), "interface": "lan"}
    rc, calls, err, _ = _run_init(tmp_path, shell, options, {})
    assert rc == 0
    assert "has no address yet" in err
    assert not [c for c in calls if c.startswith("open_instance")]
    assert "interface_trigger lan" in calls  # which starts it when lan comes up


@pytest.mark.parametrize("shell", _shells())
def test_init_script_refuses_a_bad_uci_value(tmp_path, base_yaml, shell):
    options = {"config_file": str(base_yaml), "interface": "lan", "log_level": "loud"}
    rc, calls, err, run_dir = _run_init(tmp_path, shell, options, {"lan": "192.168.1.1"})
    assert rc != 0
    assert "sems_lite.main.log_level" in err and "could not be rendered" in err
    assert not [c for c in calls if c.startswith("open_instance")]
    assert not (run_dir / "sems_lite.yaml").exists()


def test_init_script_is_posix_sh():
    sh = shutil.which("sh")
    assert sh is not None
    subprocess.run([sh, "-n", str(OPENWRT / "files" / "sems_lite.init")], check=True)
    text = (OPENWRT / "files" / "sems_lite.init").read_text()
    assert text.startswith("#!/bin/sh /etc/rc.common\n")
    assert "USE_PROCD=1" in text.splitlines()
    assert "[[" not in text  # no bashisms in an ash script


def test_feed_makefile_and_ipk_builder_agree():
    # the SDK recipe and boards/package.py describe the same package
    text = (OPENWRT / "Makefile").read_text()
    depends = next(line for line in text.splitlines() if "DEPENDS:=" in line and "+" in line)
    assert sorted(d.lstrip("+") for d in depends.split(":=", 1)[1].split()) == sorted(
        d for d in package.DEPENDS if d != "libc"
    )
    assert f"PKG_VERSION:={package.version().rsplit('-', 1)[0]}" in text
    assert f"PKG_RELEASE:={package.RELEASE}" in text
    conffiles = text.split("define Package/sems-lite/conffiles\n", 1)[1].split("endef")[0]
    assert conffiles.split() == list(package.CONFFILES)
    assert "include $(TOPDIR)/feeds/packages/lang/python/python3-package.mk" in text
    assert "USERID:=sems_lite:sems_lite" in text
