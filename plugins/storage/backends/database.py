"""Plugin storage in the service's database (SQLite or PostgreSQL): the default backend."""

from datetime import timedelta

from django.db.models import Q
from django.db.models.functions import Length
from django.db.models import Sum
from django.utils import timezone

from plugins.models import StoredValue
from plugins.storage.backends.base import MachineBaseStorage


def _live():
    return StoredValue.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class DatabaseStorage(MachineBaseStorage):
    def get(self, key):
        value = _live().filter(key=key).values_list("value", flat=True).first()
        return bytes(value) if value is not None else None

    def set(self, key, value, expires=None):
        expires_at = timezone.now() + timedelta(seconds=expires) if expires is not None else None
        StoredValue.objects.update_or_create(key=key, defaults={"value": value, "expires_at": expires_at})

    def delete(self, key):
        StoredValue.objects.filter(key=key).delete()

    def has(self, key):
        return _live().filter(key=key).exists()

    def size(self, prefix=""):
        return _live().filter(key__startswith=prefix).aggregate(total=Sum(Length("value")))["total"] or 0

    def keys(self, prefix=""):
        rows = _live().filter(key__startswith=prefix).annotate(size=Length("value")).order_by("key")
        return [(row.key, row.size, row.expires_at) for row in rows.only("key", "expires_at")]

    def delete_prefix(self, prefix):
        return StoredValue.objects.filter(key__startswith=prefix).delete()[0]

    def purge_expired(self):
        return StoredValue.objects.filter(expires_at__lte=timezone.now()).delete()[0]
