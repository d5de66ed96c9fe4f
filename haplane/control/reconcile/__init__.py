"""Pure controller decisions: ``reconcile(desired, observed, now) -> actions``."""

from haplane.control.reconcile.deployment import (
    Deletion,
    Plan,
    reconcile,
    record_revision,
    rollback_template,
)
from haplane.control.reconcile.podtemplate import pod_from_template, template_hash

__all__ = ["Deletion", "Plan", "reconcile", "record_revision", "rollback_template", "pod_from_template",
           "template_hash"]
