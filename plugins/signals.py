"""Plugin data follows the installation's audit trail: an uninstall deletes the workspace's plugin
storage and role grants; an install clears the scopes it was missing."""

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from installations.models import InstallationEvent
from plugins import context, scopes, storage
from plugins.models import RoleGrant

logger = logging.getLogger("slackhub.plugins")


@receiver(post_save, sender=InstallationEvent, dispatch_uid="plugins-follow-installations")
def follow_installation(sender, instance, created, **kwargs):
    if not created:
        return
    workspace = instance.workspace
    # A late app_uninstalled (bolt-js #1558) is recorded though a newer install stays: keep its data.
    if instance.kind == InstallationEvent.UNINSTALLED and type(workspace).objects.filter(
        pk=workspace.pk, status=type(workspace).UNINSTALLED
    ).exists():
        key = context.storage_key(workspace.enterprise_id, workspace.team_id, workspace.is_enterprise_install)
        RoleGrant.objects.filter(workspace=workspace).delete()
        scopes.cleared(workspace)
        transaction.on_commit(lambda: _purge(key))
    elif instance.kind in (InstallationEvent.REINSTALLED, InstallationEvent.SCOPES_CHANGED):
        scopes.cleared(workspace)
    # A first install has nothing to clear (an uninstall cleared what came before): no query.


def _purge(key):
    try:
        deleted = storage.purge_workspace(key)
    except Exception:
        logger.exception("could not delete the plugin storage of uninstalled workspace %s", key)
        return
    logger.info("deleted %s plugin storage keys of uninstalled workspace %s", deleted, key)
