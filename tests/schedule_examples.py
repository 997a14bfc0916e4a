"""A plugin the scheduler tests load (PLUGINS=tests.schedule_examples): every 3 seconds, it posts in
each workspace's #general which tick it ran for, so a test can count the runs of each tick."""

from dramatiq.middleware import CurrentMessage

from plugins.base import MachineBasePlugin
from plugins.decorators import schedule


class TickPlugin(MachineBasePlugin):
    """Names each tick it runs for"""

    @schedule(second="*/3")
    def tick(self):
        # A scheduled method is not told its tick; the worker's message carries it
        # (plugins.tasks.run_scheduled(plugin, method, workspace, tick)).
        tick = CurrentMessage.get_current_message().args[3]
        channel = self.find_channel_by_name("general")
        self.say(channel.id if channel else "C0ACMEGEN1", f"tick {tick}")


class ZonedPlugin(MachineBasePlugin):
    """A timetable in a time zone of its own, and one that cannot be (a minute out of range)"""

    @schedule(hour=9, minute=0, timezone="Europe/Paris")
    def morning(self):
        self.say("C0ACMEGEN1", "bonjour")

    @schedule(hour=12, minute=30, timezone="Europe/Paris")
    @schedule(hour=9, minute=0, timezone="Europe/Paris")
    def twice(self):
        self.say("C0ACMEGEN1", "twice a day")

    @schedule(minute="99")
    def never(self):
        self.say("C0ACMEGEN1", "never")
