"""`PerProcess`: one object per process, built on first use and built again after a Django setting
it depends on changed (tests override settings), the way Django's own `caches[...]` behave.

The stores, the Bolt app, the plugin registry and the plugin storage backend are each one of these.
"""

import threading

from django.core.signals import setting_changed


class PerProcess:
    """`PerProcess(build, prefixes, close=None)()` returns the process's object, building it with
    `build()` the first time. A change to a setting whose name starts with one of `prefixes` drops
    it (calling `close(obj)` if given); the next call builds it again. Built, a call takes no lock:
    it is on every event's path."""

    def __init__(self, build, prefixes, close=None):
        self._build, self._prefixes, self._close = build, tuple(prefixes), close
        self._value = None
        self._lock = threading.Lock()
        setting_changed.connect(self._setting_changed, weak=False)

    def __call__(self):
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    def _setting_changed(self, *, setting, **kwargs):
        if setting.startswith(self._prefixes):
            self.reset()

    def reset(self):
        with self._lock:
            value, self._value = self._value, None
        if value is not None and self._close is not None:
            self._close(value)
