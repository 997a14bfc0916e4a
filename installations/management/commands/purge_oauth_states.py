from django.core.management.base import BaseCommand

from installations.stores import DjangoOAuthStateStore


class Command(BaseCommand):
    help = "Delete expired OAuth states (the store also purges now and then on its own)."

    def handle(self, *args, **options):
        purged = DjangoOAuthStateStore(expiration_seconds=0).purge_expired()
        self.stdout.write(f"Purged {purged} expired OAuth states.")
