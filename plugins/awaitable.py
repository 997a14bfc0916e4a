"""Helpers that work with and without `await`.

Slack Machine's handlers are `async def` and `await` every helper; slackhub also accepts plain
`def` handlers that call the same helpers without `await`. `run` calls a handler and marks which
kind is running; a helper wrapped with `@awaitable` does its work at once for a plain handler and
returns a coroutine for an async one. The work itself is synchronous either way (Slack's WebClient
and the ORM block; each handler runs on its own worker thread, in a per-thread event loop).
"""

import asyncio
import contextvars
import functools
import inspect
import logging
import threading

_async_mode = contextvars.ContextVar("slackhub_async_handler", default=False)
_loops = threading.local()
logger = logging.getLogger("slackhub.plugins")


def awaitable(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not _async_mode.get():
            return method(*args, **kwargs)

        async def later():
            return blocking(method, *args, **kwargs)

        return later()

    return wrapper


def blocking(function, *args, **kwargs):
    """Call synchronous work (the ORM, Slack's WebClient) from a coroutine of `run`'s loop.

    Django refuses ORM calls in a thread with a running event loop (SynchronousOnlyOperation), to
    protect loops shared by many requests. `run`'s loop is this one handler's, on this worker thread,
    and the work blocks it by design; so the loop is set aside for the call. This is the one place
    that touches asyncio's running-loop slot.
    """
    loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return function(*args, **kwargs)
    finally:
        asyncio.events._set_running_loop(loop)


def is_async(function) -> bool:
    return inspect.iscoroutinefunction(function)


def run(function, *args, **kwargs):
    """Call a plugin function, plain or `async def`, to completion in this thread (including the
    tasks it started, such as async `@on` handlers of what it emitted)."""
    if not is_async(function):
        token = _async_mode.set(False)
        try:
            return function(*args, **kwargs)
        finally:
            _async_mode.reset(token)
    loop = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    token = _async_mode.set(True)
    try:
        result = loop.run_until_complete(function(*args, **kwargs))
        pending = asyncio.all_tasks(loop)
        if pending:
            for outcome in loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True)):
                if isinstance(outcome, Exception):  # an async @on handler started by emit()
                    logger.error("an emitted event's handler failed", exc_info=outcome)
        return result
    finally:
        _async_mode.reset(token)


def start(function, *args, **kwargs):
    """Call a plugin function from inside another one (`emit`): an async one becomes a task of the
    running loop (awaited before `run` returns), a plain one runs now."""
    if is_async(function):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return run(function, *args, **kwargs)
        token = _async_mode.set(True)
        try:
            return loop.create_task(function(*args, **kwargs))
        finally:
            _async_mode.reset(token)
    return run(function, *args, **kwargs)
