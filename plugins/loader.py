"""Loads the plugins named by `PLUGINS` and registers what their decorators asked for.

A dotted path to a class loads that class; a path to a module loads every plugin class defined in
it. Each plugin is instantiated once per process and its `init()` runs once. A plugin or method whose
`required_settings` are not all set is skipped, with one warning naming what is missing.
"""

import inspect
import logging
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from installations.per_process import PerProcess
from plugins.awaitable import run
from plugins.base import MachineBasePlugin
from plugins.decorators import CRON_FIELDS, wants

logger = logging.getLogger("slackhub.plugins")


@dataclass(frozen=True)
class Handler:
    plugin: str  # dotted path of the plugin class
    method: str
    function: object = field(compare=False)  # the bound method
    scopes: tuple = ()  # bot scopes the plugin declared

    @property
    def name(self):
        return f"{self.plugin}.{self.method}"


@dataclass(frozen=True)
class ScheduledMethod:
    plugin: str
    method: str
    cron: dict

    @property
    def timetable(self) -> str:
        return " ".join(f"{name}={self.cron[name]}" for name in CRON_FIELDS if name in self.cron)


@dataclass
class Registry:
    plugins: dict = field(default_factory=dict)  # class path -> instance
    listen_to: list = field(default_factory=list)  # (Handler, regex, handle_message_changed)
    respond_to: list = field(default_factory=list)
    commands: dict = field(default_factory=dict)  # "/name" -> [Handler]
    actions: list = field(default_factory=list)  # (Handler, action_id, block_id)
    process: dict = field(default_factory=dict)  # event type -> [Handler]
    on: dict = field(default_factory=dict)  # emitted event -> [Handler]
    schedules: list = field(default_factory=list)  # (Handler, ScheduledMethod)

    @property
    def scopes(self) -> set:
        return {scope for plugin in self.plugins.values() for scope in plugin.scopes}

    def handler(self, plugin: str, method: str) -> Handler | None:
        instance = self.plugins.get(plugin)
        function = getattr(instance, method, None) if instance else None
        return Handler(plugin, method, function, tuple(instance.scopes)) if wants(function) else None


def _missing(names):
    return [name for name in names if getattr(settings, name, None) in (None, "", [], ())]


def plugin_classes(path: str) -> list[type]:
    """The plugin classes `path` names: a class, or every plugin class defined in a module. A path
    that names neither is a configuration error (start-up stops with a short message)."""
    try:
        module = import_module(path)
    except ModuleNotFoundError as missing:
        if not (path == missing.name or path.startswith(f"{missing.name}.")):  # it imports something missing
            raise ImproperlyConfigured(f"PLUGINS: {path} could not be imported: {missing}") from None
        try:
            found = import_string(path)
        except ImportError as error:
            raise ImproperlyConfigured(f"PLUGINS: no module or class {path!r} ({error})") from None
        if not (inspect.isclass(found) and issubclass(found, MachineBasePlugin)):
            raise ImproperlyConfigured(f"PLUGINS: {path} is not a plugin class (a MachineBasePlugin subclass)") from None
        return [found]
    return [
        value for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, MachineBasePlugin) and value is not MachineBasePlugin
        and value.__module__ == module.__name__
    ]


def build() -> Registry:
    registry = Registry()
    for path in settings.PLUGINS:
        for cls in plugin_classes(path):
            if f"{cls.__module__}.{cls.__qualname__}" not in registry.plugins:  # named twice: loaded once
                _register(registry, cls)
    return registry


def _register(registry: Registry, cls: type):
    class_path = f"{cls.__module__}.{cls.__qualname__}"
    meta = wants(cls)
    missing = _missing(meta.required_settings) if meta else []
    if missing:
        logger.warning("plugin %s skipped: missing setting(s) %s", class_path, ", ".join(missing))
        return
    instance = cls()
    try:
        run(instance.init)
    except Exception:
        logger.exception("plugin %s skipped: its init() failed", class_path)
        return
    registry.plugins[class_path] = instance
    for name, member in inspect.getmembers(cls):
        meta = wants(member)
        if meta is None or not callable(member):
            continue
        missing = _missing(meta.required_settings)
        if missing:
            logger.warning("plugin method %s.%s skipped: missing setting(s) %s", class_path, name, ", ".join(missing))
            continue
        handler = Handler(class_path, name, getattr(instance, name), tuple(cls.scopes))
        registry.listen_to += [(handler, regex, changed) for regex, changed in meta.listen_to]
        registry.respond_to += [(handler, regex, changed) for regex, changed in meta.respond_to]
        registry.actions += [(handler, action_id, block_id) for action_id, block_id in meta.actions]
        for command in meta.commands:
            registry.commands.setdefault(command, []).append(handler)
        for event_type in meta.process:
            registry.process.setdefault(event_type, []).append(handler)
        for event in meta.on:
            registry.on.setdefault(event, []).append(handler)
        registry.schedules += [(handler, ScheduledMethod(class_path, name, cron)) for cron in meta.schedules]


_registry = PerProcess(build, ("PLUGIN",))


def registry() -> Registry:
    """The process's plugins, loaded on first use: at start-up in web (config/wsgi.py builds the Slack
    app) and in workers (background.middleware.LoadPlugins); loaded again when PLUGIN* settings change."""
    return _registry()


def scheduled_methods() -> list[ScheduledMethod]:
    return [scheduled for _, scheduled in registry().schedules]
