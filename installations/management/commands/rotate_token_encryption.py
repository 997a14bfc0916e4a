"""Re-encrypt every stored token and webhook URL with the first key of TOKEN_ENCRYPTION_KEYS.

Deploy the new key first (`NEW,OLD`), run this, then drop the old key. It works on the ciphertext as
stored (cast to plain text, so the field neither decrypts on read nor encrypts again on write), in
batches, each under row locks so a token refreshed meanwhile is not overwritten with its old value.
Safe to run again: a row already under the first key just gets a new ciphertext.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from installations import crypto
from installations.models import Bot, Installation


def encrypted_columns(model):
    return [field.name for field in model._meta.concrete_fields if isinstance(field, crypto.EncryptedTextField)]


class Command(BaseCommand):
    help = "Re-encrypt stored tokens with the first key of TOKEN_ENCRYPTION_KEYS (then the others can go)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        unreadable = []
        for model in (Installation, Bot):
            touched = self.rotate(model, batch_size, unreadable)
            self.stdout.write(f"{model._meta.verbose_name_plural}: re-encrypted {touched} rows.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} stored values no key in TOKEN_ENCRYPTION_KEYS decrypts (left as they are): "
                + ", ".join(unreadable[:20])
            )

    def rotate(self, model, batch_size, unreadable):
        columns = encrypted_columns(model)
        raw = {f"raw_{name}": Cast(name, output_field=models.TextField()) for name in columns}
        touched, last_pk = 0, 0
        while True:
            with transaction.atomic():
                rows = list(
                    model.objects.select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .annotate(**raw)
                    .values_list("pk", *raw)[:batch_size]
                )
                for pk, *ciphertexts in rows:
                    rotated = {}
                    for name, ciphertext in zip(columns, ciphertexts):
                        if ciphertext is None:
                            continue
                        try:
                            rotated[name] = crypto.rotate(ciphertext.encode()).decode()
                        except crypto.InvalidToken:
                            unreadable.append(f"{model.__name__} {pk} {name}")
                    if rotated:
                        # Value(…, TextField): written as given, not encrypted again by the field.
                        model.objects.filter(pk=pk).update(
                            **{name: models.Value(value, output_field=models.TextField()) for name, value in rotated.items()}
                        )
                        touched += 1
            if len(rows) < batch_size:
                return touched
            last_pk = rows[-1][0]
