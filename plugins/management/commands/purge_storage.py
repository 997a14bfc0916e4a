from django.core.management.base import BaseCommand

from plugins.storage import purge_expired


class Command(BaseCommand):
    help = "Delete expired plugin storage keys (reads already ignore them; this frees the space)."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {purge_expired()} expired plugin storage keys.")
