"""The scheduler: pure predicates, scorers and one placement pass (:func:`schedule`)."""

from haplane.control.scheduler.predicates import PREDICATES, NodeInfo, PodInfo, build_node_infos
from haplane.control.scheduler.scorers import SCORERS
from haplane.control.scheduler.select import Binding, Unschedulable, schedule

__all__ = ["PREDICATES", "SCORERS", "NodeInfo", "PodInfo", "build_node_infos", "Binding", "Unschedulable",
           "schedule"]
