"""The app plug-in table: routing a new INVITE to an app name, and loading apps lazily.

Rules this module keeps:
- Routing is pure: R-URI and headers in, an app name (or None -> 404) out. First match wins.
- App modules are imported on first use only (start-up time and memory on routers), and
  `check_importable` finds them without running their code.
- An app module defines `create_app(config: Mapping) -> object`; that object is the app.
- Every failure is an AppError whose message names the app, the module and what is wrong.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from sems_lite.config import Config

if TYPE_CHECKING:  # being written in parallel; only annotations need them
    from sems_lite.sip.headers import Headers
    from sems_lite.sip.uri import AbsoluteUri, SipUri

__all__ = ["AppError", "AppFactory", "AppTable", "Router"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class AppError(Exception):
    """Unknown app, module import failure, or a module that is not a valid app."""


def _param(uri: Any, name: str) -> str | None:
    """URI parameter value; names compare case-insensitively (RFC 3261 §19.1.4)."""
    params = getattr(uri, "params", None)
    if not params:
        return None
    value = params.get(name)
    if value is None:
        for key, val in params.items():
            if key.lower() == name:
                return val
    return value


class Router:
    """Picks the app for a new INVITE from the config's routing rules."""

    __slots__ = ("_apps", "_default", "_rules")

    def __init__(self, config: Config) -> None:
        self._apps = frozenset(config.apps)
        self._default = config.default_app
        # (kind, matcher data, header value, app, auth): sets and compiled regexes built once.
        rules: list[tuple[str, Any, str | None, str | None, bool]] = []
        for rule in config.routing:
            data: Any
            if rule.kind in ("user", "domain"):
                data = frozenset(rule.values)
            elif rule.kind == "regex":
                data = re.compile(rule.values[0])
            else:
                data = rule.values[0]
            rules.append((rule.kind, data, rule.header_value, rule.app, rule.auth))
        self._rules = tuple(rules)

    def select(self, ruri: SipUri | AbsoluteUri, headers: Headers) -> str | None:
        """App name for this request: first matching rule, else default_app, else None."""
        return self.route(ruri, headers)[0]

    def route(self, ruri: SipUri | AbsoluteUri, headers: Headers) -> tuple[str | None, bool]:
        """(app name or None, whether the matching rule requires digest authentication)."""
        for kind, data, header_value, app, auth in self._rules:
            if kind == "user":
                if ruri.user is not None and ruri.user in data:
                    return app, auth
            elif kind == "domain":
                host = ruri.host
                if host and host.lower() in data:
                    return app, auth
            elif kind == "regex":
                if data.search(str(ruri)):
                    return app, auth
            elif kind == "header":
                value = headers.get(data)
                if value is None:
                    continue
                value = value.strip()
                if header_value is not None:
                    if value == header_value:
                        return app, auth
                elif value in self._apps:
                    return value, auth
            elif kind == "param":
                value = _param(ruri, data)
                if value is not None and value in self._apps:
                    return value, auth
        return self._default, False


class AppFactory:
    """A loaded app module: `create(config)` builds the app object."""

    __slots__ = ("create_app", "module", "module_name", "name")

    def __init__(self, name: str, module: ModuleType, create_app: Callable[..., object]) -> None:
        self.name = name
        self.module = module
        self.module_name = module.__name__
        self.create_app = create_app

    def create(self, config: Mapping[str, Any]) -> object:
        try:
            app = self.create_app(config)
        except Exception as exc:
            raise AppError(
                f"app {self.name!r}: {self.module_name}.create_app() failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if app is None:
            raise AppError(
                f"app {self.name!r}: {self.module_name}.create_app() returned None "
                "(it must return the app object)"
            )
        return app

    __call__ = create

    def __repr__(self) -> str:
        return f"AppFactory({self.name!r}, module={self.module_name!r})"


def _find_spec(fullname: str, path: Sequence[str] | None) -> Any:
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is not None:
            spec = find(fullname, path)
            if spec is not None:
                return spec
    return None


def _locate(module_name: str) -> str | None:
    """None if the module can be imported, else the problem. Executes no module code:
    unlike importlib.util.find_spec, it does not import parent packages either."""
    if module_name in sys.modules:
        return None
    parts = module_name.split(".")
    path: list[str] | None = None
    for i in range(len(parts)):
        fullname = ".".join(parts[: i + 1])
        module = sys.modules.get(fullname)
        if module is not None:
            locations = getattr(module, "__path__", None)
        else:
            try:
                spec = _find_spec(fullname, path)
            except (ImportError, ValueError) as exc:
                return f"cannot look up module {fullname!r}: {exc}"
            if spec is None:
                return f"module {fullname!r} not found"
            locations = spec.submodule_search_locations
        if i < len(parts) - 1:
            if locations is None:
                return f"{fullname!r} is a module, not a package, so {module_name!r} cannot exist"
            path = list(locations)
    return None


class AppTable:
    """App name -> module, imported on first use; one app object per name."""

    def __init__(self, config: Config) -> None:
        self._modules: Mapping[str, str] = config.apps
        self._app_config: Mapping[str, Mapping[str, Any]] = config.app_config
        self._config_dir = os.path.dirname(os.path.abspath(config.path))
        self._factories: dict[str, AppFactory] = {}
        self._instances: dict[str, object] = {}

    def _module_name(self, name: str) -> str:
        module_name = self._modules.get(name)
        if module_name is None:
            import difflib  # only for the error message

            close = difflib.get_close_matches(name, list(self._modules), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(self._modules) or "none"
            raise AppError(f"unknown app {name!r}{hint}; configured apps: {known}")
        return module_name

    def get(self, name: str) -> AppFactory:
        """The app's factory; imports its module on the first call only."""
        factory = self._factories.get(name)
        if factory is not None:
            return factory
        module_name = self._module_name(name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name + ".").startswith(exc.name + "."):
                raise AppError(f"app {name!r}: module {module_name!r} not found") from exc
            raise AppError(
                f"app {name!r}: importing module {module_name!r} failed: ModuleNotFoundError: {exc}"
            ) from exc
        except Exception as exc:  # the module's own code failed: report, don't crash start
            raise AppError(
                f"app {name!r}: importing module {module_name!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        create_app = getattr(module, "create_app", None)
        if create_app is None:
            raise AppError(
                f"app {name!r}: module {module_name!r} has no create_app(config) function"
            )
        if not callable(create_app):
            raise AppError(f"app {name!r}: {module_name}.create_app is not callable")
        factory = AppFactory(name, module, create_app)
        self._factories[name] = factory
        return factory

    def instance(self, name: str) -> object:
        """The app object, created once with config.app_config.get(name, {})."""
        app = self._instances.get(name)
        if app is None:
            settings = dict(self._app_config.get(name, _EMPTY))
            # Apps resolve relative paths (prompts, recordings) against the config's folder.
            settings.setdefault("config_dir", self._config_dir)
            app = self.get(name).create(settings)
            self._instances[name] = app
        return app

    def check_importable(self) -> None:
        """Raise AppError for the first configured module that cannot be found."""
        for name, module_name in self._modules.items():
            problem = _locate(module_name)
            if problem is not None:
                raise AppError(f"app {name!r}: {problem}")

    def reload(self, config: Config) -> None:
        """Switch to a new config (SIGHUP); drop what changed, keep the rest."""
        for name in list(self._factories):
            if config.apps.get(name) != self._modules.get(name):
                del self._factories[name]
        for name in list(self._instances):
            same_module = config.apps.get(name) == self._modules.get(name)
            same_config = config.app_config.get(name, _EMPTY) == self._app_config.get(name, _EMPTY)
            if not (same_module and same_config):
                del self._instances[name]
        self._modules = config.apps
        self._app_config = config.app_config
        self._config_dir = os.path.dirname(os.path.abspath(config.path))
