from django.core.management.base import BaseCommand

from background import scheduler


class Command(BaseCommand):
    help = "Run the scheduler: plugin @schedule ticks and the service's jobs (Procfile: scheduler)."

    def handle(self, *args, **options):
        scheduler.run()
