"""A plugin the background-work tests load (PLUGINS=tests.background_plugins): a reply per event
that names the event, and a schedule that posts in each workspace's #general."""

import os
import time

from plugins.base import MachineBasePlugin
from plugins.decorators import listen_to, schedule

GENERAL = {"T0ACME0001": "C0ACMEGEN1", "T0GLOBEX01": "C0GLOBGEN1"}


class BackgroundPlugin(MachineBasePlugin):
    """Replies and ticks the tests count"""

    @listen_to(r"^job (?P<number>\d+)$")
    def job(self, msg, number):
        # A slow Slack, as the tests of killed workers need: the work is held for this long.
        time.sleep(float(os.getenv("BACKGROUND_TEST_JOB_SECONDS", "0")))
        msg.say(f"done {number}")

    @schedule(second="*/4")
    def tick(self):
        channel = self.find_channel_by_name("general")
        self.say(channel.id if channel else "C0ACMEGEN1", "tick")
