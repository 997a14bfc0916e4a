"""The service's own background jobs, run by the scheduler (background/scheduler.py): the same
management commands an operator runs by hand, so there is one code path for each."""

import io
import logging

import dramatiq
from django.core.management import call_command

logger = logging.getLogger("slackhub.tasks")


def _run(command):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, stdout=out, stderr=err)
    for line in err.getvalue().splitlines():
        logger.warning("%s: %s", command, line)
    logger.info("%s: %s", command, out.getvalue().strip())


@dramatiq.actor(max_retries=0, time_limit=30 * 60 * 1000)
def refresh_tokens():
    """Refresh rotating tokens that expire soon, so quiet workspaces keep working (bolt-python #1084)."""
    _run("refresh_tokens")


@dramatiq.actor(max_retries=0, time_limit=30 * 60 * 1000)
def purge_oauth_states():
    """Delete expired OAuth states."""
    _run("purge_oauth_states")
