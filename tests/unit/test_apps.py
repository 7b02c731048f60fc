"""sems_lite.apps: routing rules, lazy app loading, helpful AppErrors, reload."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sems_lite.apps import AppError, AppFactory, AppTable, Router
from sems_lite.config import Config, load_config, parse_config
from sems_lite.sip.headers import Headers

FIXTURES = Path(__file__).resolve().parent / "fixtures_apps"
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "etc" / "sems_lite.yaml"
PREFIX = "slfx_"


def _drop_fixture_modules() -> None:
    for name in [n for n in sys.modules if n.startswith(PREFIX)]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def fixture_apps_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _drop_fixture_modules()
    monkeypatch.syspath_prepend(str(FIXTURES))
    yield
    _drop_fixture_modules()


@dataclass
class Uri:
    """Stand-in for sems_lite.sip.uri.SipUri: the attributes the router reads."""

    user: str | None
    host: str
    params: dict[str, str | None] = field(default_factory=dict)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"sip:{user}{self.host}{params}"


def cfg(text: str) -> Config:
    return parse_config(textwrap.dedent(text).lstrip("\n"), "t.yaml")


APPS = """
apps:
  echo: slfx_echo
  conf: slfx_pkg.conf
  other: slfx_echo
"""

NO_HEADERS = Headers()


def route(routing: str, *, default: str | None = None) -> Router:
    text = APPS + "routing:\n" + textwrap.indent(textwrap.dedent(routing), "  ")
    if default is not None:
        text += f"default_app: {default}\n"
    return Router(cfg(text))


# --- routing ---------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    rules = """
    - user: "100"
      app: conf
    - domain: box.example
      app: echo
    """
    uri = Uri("100", "box.example")
    assert route(rules).select(uri, NO_HEADERS) == "conf"
    swapped = """
    - domain: box.example
      app: echo
    - user: "100"
      app: conf
    """
    assert route(swapped).select(uri, NO_HEADERS) == "echo"
    # The later rule still applies when the earlier one does not match.
    assert route(swapped).select(Uri("100", "elsewhere"), NO_HEADERS) == "conf"


def test_user_rule_is_exact_and_takes_a_list() -> None:
    router = route("- user: [echo, '500']\n  app: echo\n")
    assert router.select(Uri("echo", "h"), NO_HEADERS) == "echo"
    assert router.select(Uri("500", "h"), NO_HEADERS) == "echo"
    assert router.select(Uri("Echo", "h"), NO_HEADERS) is None
    assert router.select(Uri("echo2", "h"), NO_HEADERS) is None
    assert router.select(Uri(None, "echo"), NO_HEADERS) is None


def test_domain_rule_ignores_case() -> None:
    router = route("- domain: [Media.Example.com, 10.0.0.1]\n  app: conf\n")
    assert router.select(Uri("x", "media.example.COM"), NO_HEADERS) == "conf"
    assert router.select(Uri(None, "10.0.0.1"), NO_HEADERS) == "conf"
    assert router.select(Uri("x", "example.com"), NO_HEADERS) is None


def test_regex_rule_searches_the_whole_uri() -> None:
    router = route("- regex: '^sip:9[0-9]+@'\n  app: conf\n- regex: ';mode=x'\n  app: echo\n")
    assert router.select(Uri("9123", "h"), NO_HEADERS) == "conf"
    assert router.select(Uri("91a", "h"), NO_HEADERS) is None
    assert router.select(Uri("1", "h", {"mode": "x"}), NO_HEADERS) == "echo"


def test_header_rule_with_value() -> None:
    router = route("- header: X-App\n  value: conference\n  app: conf\n")
    assert router.select(Uri("u", "h"), Headers([("x-app", " conference ")])) == "conf"
    assert router.select(Uri("u", "h"), Headers([("X-App", "echo")])) is None
    assert router.select(Uri("u", "h"), NO_HEADERS) is None


def test_header_value_names_the_app_and_unknown_names_fall_through() -> None:
    router = route("- header: X-App\n- user: fallback\n  app: echo\n")
    assert router.select(Uri("u", "h"), Headers([("X-App", "conf")])) == "conf"
    assert router.select(Uri("u", "h"), Headers([("X-App", "other")])) == "other"
    # Not a configured app: the rule does not match, the next one is tried.
    assert router.select(Uri("fallback", "h"), Headers([("X-App", "nope")])) == "echo"
    assert router.select(Uri("u", "h"), Headers([("X-App", "nope")])) is None


def test_param_names_the_app() -> None:
    router = route("- param: App\n- user: fallback\n  app: conf\n")
    assert router.select(Uri("u", "h", {"app": "echo"}), NO_HEADERS) == "echo"
    # URI parameter names compare case-insensitively.
    assert router.select(Uri("u", "h", {"APP": "other"}), NO_HEADERS) == "other"
    assert router.select(Uri("fallback", "h", {"app": "nope"}), NO_HEADERS) == "conf"
    assert router.select(Uri("u", "h", {"app": None}), NO_HEADERS) is None
    assert router.select(Uri("u", "h"), NO_HEADERS) is None


def test_default_app_and_none() -> None:
    rules = "- user: a\n  app: conf\n"
    assert route(rules, default="echo").select(Uri("b", "h"), NO_HEADERS) == "echo"
    assert route(rules, default="echo").select(Uri("a", "h"), NO_HEADERS) == "conf"
    assert route(rules).select(Uri("b", "h"), NO_HEADERS) is None
    assert Router(cfg(APPS)).select(Uri("b", "h"), NO_HEADERS) is None


def test_default_file_routes_echo() -> None:
    router = Router(load_config(DEFAULT_FILE))
    assert router.select(Uri("echo", "127.0.0.1"), NO_HEADERS) == "echo"
    # The other matchers are commented-out examples in the default file.
    assert router.select(Uri("9000", "127.0.0.1"), NO_HEADERS) is None
    assert router.select(Uri("x", "127.0.0.1", {"app": "echo"}), NO_HEADERS) is None
    assert router.select(Uri("x", "127.0.0.1"), NO_HEADERS) is None


# --- lazy loading and the app table ---------------------------------------------------------

APP_TABLE = (
    APPS
    + """
routing:
  - user: echo
    app: echo
app_config:
  echo: {greeting: hi, frames: [1, 2]}
"""
)


def test_apps_are_imported_only_when_first_used() -> None:
    config = cfg(APP_TABLE)
    table = AppTable(config)
    router = Router(config)
    table.check_importable()
    name = router.select(Uri("echo", "h"), NO_HEADERS)
    assert name == "echo"
    assert "slfx_echo" not in sys.modules
    assert "slfx_pkg" not in sys.modules

    app = table.instance(name)
    assert "slfx_echo" in sys.modules
    assert "slfx_pkg" not in sys.modules and "slfx_pkg.conf" not in sys.modules
    assert type(app).__name__ == "DummyApp"
    expected = {"greeting": "hi", "frames": [1, 2]}
    assert {k: v for k, v in app.config.items() if k != "config_dir"} == expected  # type: ignore[attr-defined]
    assert app.config["config_dir"]  # type: ignore[attr-defined]
    # One instance per app name, created once.
    assert table.instance("echo") is app
    assert sys.modules["slfx_echo"].created == 1
    # Two names on one module: one import, separate instances; no config -> only config_dir.
    other = table.instance("other")
    assert other is not app
    assert set(other.config) == {"config_dir"}  # type: ignore[attr-defined]
    assert sys.modules["slfx_echo"].created == 2


def test_get_returns_a_cached_factory() -> None:
    table = AppTable(cfg(APPS))
    factory = table.get("conf")
    assert isinstance(factory, AppFactory)
    assert (factory.name, factory.module_name) == ("conf", "slfx_pkg.conf")
    assert table.get("conf") is factory
    made = factory({"a": 1})
    assert type(made).__name__ == "Conference"
    assert made.config == {"a": 1}  # type: ignore[attr-defined]


def test_unknown_app_name_suggests() -> None:
    table = AppTable(cfg(APPS))
    with pytest.raises(
        AppError,
        match=r"^unknown app 'ecoh' \(did you mean 'echo'\?\); "
        r"configured apps: echo, conf, other$",
    ):
        table.get("ecoh")
    with pytest.raises(AppError, match=r"^unknown app 'zzz'; configured apps: echo, conf, other$"):
        table.instance("zzz")


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("slfx_nope", "app 'x': module 'slfx_nope' not found"),
        ("slfx_pkg.nope", "app 'x': module 'slfx_pkg.nope' not found"),
        (
            "slfx_missing_dep",
            "app 'x': importing module 'slfx_missing_dep' failed: ModuleNotFoundError: "
            "No module named 'slfx_not_installed_anywhere'",
        ),
        (
            "slfx_broken",
            "app 'x': importing module 'slfx_broken' failed: "
            "RuntimeError: slfx_broken was executed",
        ),
        ("slfx_no_factory", "app 'x': module 'slfx_no_factory' has no create_app(config) function"),
        ("slfx_not_callable", "app 'x': slfx_not_callable.create_app is not callable"),
    ],
)
def test_bad_modules_give_helpful_errors(module: str, message: str) -> None:
    table = AppTable(cfg(f"apps:\n  x: {module}\n"))
    with pytest.raises(AppError) as info:
        table.get("x")
    assert str(info.value) == message


def test_create_app_failures_are_app_errors() -> None:
    table = AppTable(
        cfg("apps: {x: slfx_failing, y: slfx_returns_none}\napp_config: {x: {greeting: 3}}\n")
    )
    with pytest.raises(AppError) as info:
        table.instance("x")
    assert str(info.value) == (
        "app 'x': slfx_failing.create_app() failed: ValueError: bad greeting 3"
    )
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(AppError, match=r"slfx_returns_none.create_app\(\) returned None"):
        table.instance("y")


def test_check_importable_runs_no_module_code() -> None:
    table = AppTable(cfg("apps: {a: slfx_broken, b: slfx_pkg.conf, c: slfx_echo}\n"))
    table.check_importable()
    assert not [n for n in sys.modules if n.startswith(PREFIX)]


@pytest.mark.parametrize(
    ("module", "problem"),
    [
        ("slfx_nope", "module 'slfx_nope' not found"),
        ("slfx_pkg.nope", "module 'slfx_pkg.nope' not found"),
        ("slfx_nope.sub", "module 'slfx_nope' not found"),
        (
            "slfx_echo.sub",
            "'slfx_echo' is a module, not a package, so 'slfx_echo.sub' cannot exist",
        ),
    ],
)
def test_check_importable_names_the_first_failure(module: str, problem: str) -> None:
    table = AppTable(cfg(f"apps:\n  good: slfx_echo\n  bad: {module}\n  worse: slfx_zzz\n"))
    with pytest.raises(AppError) as info:
        table.check_importable()
    assert str(info.value) == f"app 'bad': {problem}"
    assert "slfx_pkg" not in sys.modules


def test_check_importable_accepts_already_imported_modules() -> None:
    import slfx_pkg.conf  # noqa: F401  (imported on purpose)

    AppTable(cfg("apps: {b: slfx_pkg.conf}\n")).check_importable()


def test_default_file_apps_are_importable() -> None:
    AppTable(load_config(DEFAULT_FILE)).check_importable()


def test_reload_keeps_unchanged_apps_and_drops_changed_ones() -> None:
    table = AppTable(cfg(APP_TABLE))
    echo = table.instance("echo")
    conf = table.instance("conf")
    other = table.instance("other")

    table.reload(cfg(APP_TABLE))
    assert table.instance("echo") is echo
    assert table.instance("conf") is conf

    changed = APP_TABLE.replace("greeting: hi", "greeting: hello").replace(
        "other: slfx_echo", "other: slfx_pkg.conf"
    )
    table.reload(cfg(changed))
    new_echo = table.instance("echo")
    assert new_echo is not echo
    assert new_echo.config["greeting"] == "hello"  # type: ignore[attr-defined]
    assert table.instance("conf") is conf
    new_other = table.instance("other")
    assert type(new_other).__name__ == "Conference"
    assert new_other is not other

    table.reload(cfg("apps: {echo: slfx_echo}\n"))
    assert table.instance("echo") is not new_echo  # its app_config entry went away
    with pytest.raises(AppError, match="unknown app 'conf'"):
        table.instance("conf")
