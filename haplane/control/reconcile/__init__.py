"""Pure controller decisions: ``reconcile(desired, observed, now) -> actions``."""

from haplane.control.reconcile import deployment, replicaset
from haplane.control.reconcile.podtemplate import pod_from_template, template_hash

__all__ = ["deployment", "replicaset", "pod_from_template", "template_hash"]
