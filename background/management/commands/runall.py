"""`make run`: the development server with the worker and the scheduler on threads of the process
that serves (not the autoreloader's parent), so events are answered and schedules fire with no
other process and no Redis."""

from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand

from background import in_process


class Command(RunserverCommand):
    help = "Development server with the worker and the scheduler in the same process."

    def inner_run(self, *args, **options):
        # inner_run runs in the serving child of the autoreloader, once per code reload.
        in_process.start()
        super().inner_run(*args, **options)
