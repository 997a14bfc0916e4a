"""Tokens at rest: Fernet (authenticated encryption) with rotating keys.

`TOKEN_ENCRYPTION_KEYS` lists keys newest first: the first encrypts, every key decrypts, so a new key
can be deployed first and old rows re-encrypted later (`manage.py rotate_token_encryption`).
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

__all__ = ["encrypt", "decrypt", "rotate", "EncryptedTextField", "InvalidToken", "Unreadable"]


@lru_cache(maxsize=4)
def _fernet(keys):
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet():
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt(data: bytes) -> bytes:
    return fernet().decrypt(data)


def rotate(data: bytes) -> bytes:
    """Re-encrypt with the first key (a no-op in meaning, a new ciphertext)."""
    return fernet().rotate(data)


class Unreadable(str):
    """A stored value no configured key decrypts (written under a key since removed from
    `TOKEN_ENCRYPTION_KEYS`). It reads as an empty, falsy string, so every `if token` treats it as no
    token (the workspace needs reinstalling) instead of failing the page or the event; saving it
    again writes the original ciphertext back, so restoring the old key makes it readable again."""

    def __new__(cls, ciphertext):
        value = super().__new__(cls, "")
        value.ciphertext = ciphertext
        return value

    def __reduce__(self):  # pickled by the installation cache
        return Unreadable, (self.ciphertext,)


class EncryptedTextField(models.TextField):
    """A text column stored Fernet-encrypted; NULL stays NULL so `isnull` lookups still work.

    Only `isnull` lookups make sense on it: the ciphertext of one value differs on every save.
    """

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return decrypt(value.encode()).decode()
        except InvalidToken:
            return Unreadable(value)

    def get_prep_value(self, value):
        if isinstance(value, Unreadable):
            return value.ciphertext
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt(value.encode()).decode()
