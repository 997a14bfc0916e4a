"""Per-worker counters of SQL queries and new database connections, readable from another process.

Each worker keeps its counts in a small memory-mapped file named after its pid, so the runner reads
exact totals at any moment without asking the worker over HTTP (which would land on any worker).
"""

import mmap
import os
import struct
import threading
from pathlib import Path

FIELDS = ("queries", "connections")
_SLOT = struct.Struct("q")


class Counters:
    def __init__(self, path):
        path.write_bytes(bytes(_SLOT.size * len(FIELDS)))
        self._file = open(path, "r+b")
        self._map = mmap.mmap(self._file.fileno(), 0)
        self._values = dict.fromkeys(FIELDS, 0)
        self._lock = threading.Lock()

    def add(self, field, amount=1):
        with self._lock:
            self._values[field] += amount
            _SLOT.pack_into(self._map, _SLOT.size * FIELDS.index(field), self._values[field])


def read(directory) -> dict:
    """{pid: {field: count}} for every worker that has written counters in `directory`."""
    found = {}
    for path in Path(directory).glob("*.counters"):
        data = path.read_bytes()
        found[int(path.stem)] = {field: _SLOT.unpack_from(data, _SLOT.size * i)[0] for i, field in enumerate(FIELDS)}
    return found


def install(directory):
    """Count this process's queries and new connections (every thread's connection)."""
    from django.db.backends.signals import connection_created

    counters = Counters(Path(directory) / f"{os.getpid()}.counters")

    def count_query(execute, sql, params, many, context):
        counters.add("queries")
        return execute(sql, params, many, context)

    def count_connection(sender, connection, **kwargs):
        counters.add("connections")
        # A connection object outlives reconnects: wrap it once.
        if count_query not in connection.execute_wrappers:
            connection.execute_wrappers.append(count_query)

    connection_created.connect(count_connection, weak=False)
