"""Descriptions for the OpenAPI documents, as ``kubectl explain`` prints them.

Keyed by model class name and wire field name; ``""`` is the type's own description. Fields of
every top-level kind (apiVersion, kind, metadata, spec, status) share COMMON. A field with no
entry is shown as ``<no description>``; a type with none keeps its class docstring.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["COMMON", "TYPES", "describe"]

COMMON = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object. Servers "
                  "should convert recognized schemas to the latest internal value, and may reject unrecognized "
                  "values.",
    "kind": "Kind is a string value representing the REST resource this object represents. Servers may infer "
            "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase.",
    "metadata": "Standard object's metadata: name, namespace, labels, annotations, and the fields the server "
                "sets (uid, resourceVersion, generation, creationTimestamp).",
    "spec": "Specification of the desired behavior of the {kind}.",
    "status": "Most recently observed status of the {kind}. Populated by the system. Read-only.",
}

_TOP = {"Pod", "Deployment", "Service", "Endpoints", "Node", "Namespace", "ConfigMap", "Event", "Scale"}

TYPES: dict[str, dict[str, str]] = {
    "Pod": {"": "Pod is a collection of containers that run together on one node. A pod is scheduled to a node "
                "by the scheduler and run there by the node's agent."},
    "PodSpec": {
        "": "PodSpec is a description of a pod.",
        "containers": "List of containers belonging to the pod. There must be at least one container in a Pod. "
                      "Containers cannot currently be added or removed.",
        "nodeName": "NodeName indicates in which node this pod is scheduled. If empty, the pod is a candidate "
                    "for scheduling by the scheduler; set, it bypasses the scheduler.",
        "nodeSelector": "NodeSelector is a selector which must be true for the pod to fit on a node: every "
                        "label here must be on the node.",
        "tolerations": "If specified, the pod's tolerations: the taints of a node it accepts.",
        "restartPolicy": "Restart policy for all containers within the pod. One of Always, OnFailure, Never. "
                         "Default to Always.",
        "terminationGracePeriodSeconds": "Optional duration in seconds the pod needs to terminate gracefully: "
                                         "the time between the termination signal and the kill. Defaults to 30 "
                                         "seconds.",
    },
    "PodStatus": {
        "": "PodStatus represents information about the status of a pod.",
        "phase": "The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle: "
                 "Pending, Running, Succeeded, Failed or Unknown.",
        "conditions": "Current service state of pod (PodScheduled, Ready, ...).",
        "hostIP": "IP address of the host to which the pod is assigned. Empty if not yet scheduled.",
        "podIP": "IP address allocated to the pod.",
        "startTime": "RFC 3339 date and time at which the object was acknowledged by the node agent.",
        "containerStatuses": "Statuses of the containers in this pod, one per container.",
        "message": "A human readable message indicating details about why the pod is in this condition.",
        "reason": "A brief CamelCase message indicating details about why the pod is in this state.",
    },
    "Container": {
        "": "A single application container that you want to run within a pod.",
        "name": "Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique "
                "name. Cannot be updated.",
        "image": "Container image name.",
        "imagePullPolicy": "Image pull policy. One of Always, Never, IfNotPresent. Defaults to IfNotPresent.",
        "command": "Entrypoint array. Not executed within a shell. The image's ENTRYPOINT is used if this is "
                   "not provided.",
        "args": "Arguments to the entrypoint. The image's CMD is used if this is not provided.",
        "env": "List of environment variables to set in the container. Cannot be updated.",
        "ports": "List of ports to expose from the container.",
        "resources": "Compute Resources required by this container (requests and limits). Cannot be updated.",
        "livenessProbe": "Periodic probe of container liveness. Container will be restarted if the probe "
                         "fails.",
        "readinessProbe": "Periodic probe of container service readiness. Container will be removed from "
                          "service endpoints if the probe fails.",
    },
    "ContainerPort": {
        "": "ContainerPort represents a network port in a single container.",
        "name": "If specified, this must be an IANA_SVC_NAME and unique within the pod. Each named port in a "
                "pod must have a unique name. Name for the port that can be referred to by services.",
        "containerPort": "Number of port to expose on the pod's IP address. This must be a valid port number, "
                         "0 < x < 65536.",
        "hostPort": "Number of port to expose on the host. If specified, this must be a valid port number, "
                    "0 < x < 65536.",
        "protocol": "Protocol for port. Must be UDP, TCP, or SCTP. Defaults to \"TCP\".",
    },
    "EnvVar": {
        "": "EnvVar represents an environment variable present in a Container.",
        "name": "Name of the environment variable.",
        "value": "Variable value. Defaults to \"\".",
        "valueFrom": "Source for the environment variable's value. Cannot be used if value is not empty.",
    },
    "ResourceRequirements": {
        "": "ResourceRequirements describes the compute resource requirements.",
        "limits": "Limits describes the maximum amount of compute resources allowed.",
        "requests": "Requests describes the minimum amount of compute resources required. Defaults to Limits "
                    "when omitted.",
    },
    "Probe": {
        "": "Probe describes a health check to be performed against a container to determine whether it is "
             "alive or ready to receive traffic.",
        "httpGet": "HTTPGet specifies an HTTP GET request to perform.",
        "tcpSocket": "TCPSocket specifies a connection to a TCP port.",
        "exec": "Exec specifies a command to execute in the container.",
        "initialDelaySeconds": "Number of seconds after the container has started before probes are initiated.",
        "periodSeconds": "How often (in seconds) to perform the probe. Default to 10 seconds.",
        "timeoutSeconds": "Number of seconds after which the probe times out. Defaults to 1 second.",
        "successThreshold": "Minimum consecutive successes for the probe to be considered successful after "
                            "having failed. Defaults to 1. Must be 1 for liveness.",
        "failureThreshold": "Minimum consecutive failures for the probe to be considered failed after having "
                            "succeeded. Defaults to 3.",
    },
    "Deployment": {"": "Deployment enables declarative updates for Pods: it keeps the requested number of "
                       "replicas of its pod template running and rolls changes to the template out gradually."},
    "DeploymentSpec": {
        "": "DeploymentSpec is the specification of the desired behavior of the Deployment.",
        "replicas": "Number of desired pods. Defaults to 1.",
        "selector": "Label selector for pods. Existing pods selected by this will be the ones affected by this "
                    "deployment. It must match the pod template's labels.",
        "template": "Template describes the pods that will be created. The only allowed "
                    "template.spec.restartPolicy value is \"Always\".",
        "strategy": "The deployment strategy to use to replace existing pods with new ones.",
        "revisionHistoryLimit": "The number of old history entries to retain to allow rollback. Defaults to 10.",
        "minReadySeconds": "Minimum number of seconds for which a newly created pod should be ready without "
                           "any of its container crashing, for it to be considered available. Defaults to 0.",
        "paused": "Indicates that the deployment is paused.",
    },
    "DeploymentStrategy": {
        "": "DeploymentStrategy describes how to replace existing pods with new ones.",
        "type": "Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is RollingUpdate.",
        "rollingUpdate": "Rolling update config params. Present only if DeploymentStrategyType = RollingUpdate.",
    },
    "RollingUpdateDeployment": {
        "": "Spec to control the desired behavior of rolling update.",
        "maxSurge": "The maximum number of pods that can be scheduled above the desired number of pods. Value "
                    "can be an absolute number (ex: 5) or a percentage of desired pods (ex: 10%). Defaults to "
                    "25%.",
        "maxUnavailable": "The maximum number of pods that can be unavailable during the update. Value can be an "
                          "absolute number (ex: 5) or a percentage of desired pods (ex: 10%). Defaults to 25%.",
    },
    "DeploymentStatus": {
        "": "DeploymentStatus is the most recently observed status of the Deployment.",
        "observedGeneration": "The generation observed by the deployment controller.",
        "replicas": "Total number of non-terminated pods targeted by this deployment (their labels match the "
                    "selector).",
        "updatedReplicas": "Total number of non-terminated pods targeted by this deployment that have the "
                           "desired template spec.",
        "readyReplicas": "Total number of non-terminated pods targeted by this Deployment with a Ready "
                         "Condition.",
        "availableReplicas": "Total number of available non-terminated pods (ready for at least "
                             "minReadySeconds) targeted by this deployment.",
        "unavailableReplicas": "Total number of unavailable pods targeted by this deployment.",
        "conditions": "Represents the latest available observations of a deployment's current state.",
    },
    "PodTemplateSpec": {
        "": "PodTemplateSpec describes the data a pod should have when created from a template.",
        "metadata": "Standard object's metadata (of the template only labels and annotations are used).",
        "spec": "Specification of the desired behavior of the pod.",
    },
    "ObjectMeta": {
        "": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users "
             "must create.",
        "name": "Name must be unique within a namespace. Is required when creating resources, although some "
                "resources may allow a client to request the generation of an appropriate name automatically.",
        "generateName": "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY "
                        "IF the Name field has not been provided.",
        "namespace": "Namespace defines the space within which each name must be unique. An empty namespace is "
                     "equivalent to the \"default\" namespace.",
        "uid": "UID is the unique in time and space value for this object. Populated by the system. Read-only.",
        "resourceVersion": "An opaque value that represents the internal version of this object, used for "
                           "optimistic concurrency, change detection, and the watch operation. Read-only.",
        "generation": "A sequence number representing a specific generation of the desired state. Populated by "
                      "the system. Read-only.",
        "creationTimestamp": "A timestamp representing the server time when this object was created. Read-only.",
        "deletionTimestamp": "RFC 3339 date and time at which this resource will be deleted. Read-only.",
        "deletionGracePeriodSeconds": "Number of seconds allowed for this object to gracefully terminate before "
                                      "it will be removed from the system. Read-only.",
        "labels": "Map of string keys and values that can be used to organize and categorize (scope and "
                  "select) objects.",
        "annotations": "Annotations is an unstructured key value map stored with a resource that may be set by "
                       "external tools to store and retrieve arbitrary metadata.",
        "ownerReferences": "List of objects depended by this object. If ALL objects in the list have been "
                           "deleted, this object will be garbage collected.",
    },
    "LabelSelectorSpec": {
        "": "A label selector is a label query over a set of resources. The result of matchLabels and "
             "matchExpressions are ANDed. An empty label selector matches all objects.",
        "matchLabels": "matchLabels is a map of {key,value} pairs, each equivalent to an element of "
                       "matchExpressions whose key field is \"key\", operator \"In\" and values [\"value\"].",
        "matchExpressions": "matchExpressions is a list of label selector requirements. The requirements are "
                            "ANDed.",
    },
    "Service": {"": "Service is a named abstraction of software service (for example, mysql) consisting of local "
                    "port (for example 3306) that the proxy listens on, and the selector that determines which "
                    "pods will answer requests sent through the proxy."},
    "ServiceSpec": {
        "": "ServiceSpec describes the attributes that a user creates on a service.",
        "selector": "Route service traffic to pods with label keys and values matching this selector.",
        "ports": "The list of ports that are exposed by this service.",
        "type": "type determines how the Service is exposed: ClusterIP (the default) or NodePort.",
    },
    "ServicePort": {
        "": "ServicePort contains information on service's port.",
        "name": "The name of this port within the service. This must be a DNS_LABEL.",
        "protocol": "The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.",
        "port": "The port that will be exposed by this service.",
        "targetPort": "Number or name of the port to access on the pods targeted by the service. Defaults to "
                      "the service port.",
        "nodePort": "The port on each node on which this service is exposed when type is NodePort.",
    },
    "Node": {"": "Node is a worker node: haplane's node agent registers it and runs the pods bound to it."},
    "NodeSpec": {
        "": "NodeSpec describes the attributes that a node is created with.",
        "unschedulable": "Unschedulable controls node schedulability of new pods. By default, node is "
                         "schedulable.",
        "taints": "If specified, the node's taints.",
    },
    "Namespace": {"": "Namespace provides a scope for Names."},
    "ConfigMap": {
        "": "ConfigMap holds configuration data for pods to consume.",
        "data": "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', "
                "'_' or '.'.",
        "binaryData": "BinaryData contains the binary data: each value is base64-encoded.",
    },
    "Event": {
        "": "Event is a report of an event somewhere in the cluster.",
        "involvedObject": "The object that this event is about.",
        "reason": "This should be a short, machine understandable string that gives the reason for the "
                  "transition into the object's current status.",
        "message": "A human-readable description of the status of this operation.",
        "type": "Type of this event (Normal, Warning).",
        "count": "The number of times this event has occurred.",
        "firstTimestamp": "The time at which the event was first recorded.",
        "lastTimestamp": "The time at which the most recent occurrence of this event was recorded.",
        "source": "The component reporting this event.",
        "reportingComponent": "Name of the controller that emitted this Event.",
    },
    "Scale": {"": "Scale represents a scaling request for a resource."},
    "PodMetrics": {"": "PodMetrics sets resource usage metrics of a pod (read from its node's agent, never "
                       "stored).",
                   "timestamp": "The time the newer of the two readings was taken.",
                   "window": "The time between the two readings the CPU rate is measured over (a duration).",
                   "containers": "Metrics for all measured containers of the pod."},
    "NodeMetrics": {"": "NodeMetrics sets resource usage metrics of a node: the sum of its containers and its "
                        "agent process.",
                    "timestamp": "The time the newer of the two readings was taken.",
                    "window": "The time between the two readings the CPU rate is measured over (a duration).",
                    "usage": "The memory (working set) and CPU (cores) usage."},
    "ContainerMetrics": {"": "ContainerMetrics sets resource usage metrics of a container.",
                         "name": "Container name corresponding to the one from pod.spec.containers.",
                         "usage": "The memory (working set; resident set on the process runtime) and CPU "
                                  "(cores) usage."},
    "Condition": {
        "": "A condition of an object: one aspect of its current state (Ready, Available, Progressing...).",
        "type": "Type of the condition, in CamelCase.",
        "status": "Status of the condition: True, False or Unknown.",
        "reason": "The reason for the condition's last transition, a one-word CamelCase value.",
        "message": "A human readable message indicating details about the transition.",
        "lastHeartbeatTime": "The last time the condition was probed or reported.",
        "lastProbeTime": "The last time the condition was probed.",
        "lastTransitionTime": "The last time the condition transitioned from one status to another.",
        "lastUpdateTime": "The last time this condition was updated.",
    },
    "OwnerReference": {
        "": "OwnerReference contains enough information to let you identify an owning object. An owning "
             "object must be in the same namespace as the dependent, or be cluster-scoped.",
        "apiVersion": "API version of the referent.",
        "kind": "Kind of the referent.",
        "name": "Name of the referent.",
        "uid": "UID of the referent.",
        "controller": "If true, this reference points to the managing controller.",
        "blockOwnerDeletion": "If true, and if the owner has the \"foregroundDeletion\" finalizer, then the owner "
                              "cannot be deleted from the key-value store until this reference is removed.",
    },
    "ObjectReference": {
        "": "ObjectReference contains enough information to let you inspect or modify the referred object.",
        "apiVersion": "API version of the referent.",
        "kind": "Kind of the referent.",
        "name": "Name of the referent.",
        "namespace": "Namespace of the referent.",
        "uid": "UID of the referent.",
        "fieldPath": "If referring to a piece of an object instead of an entire object, this string should "
                     "contain a valid JSON/Go field access statement, such as spec.containers{name}.",
    },
    "Toleration": {
        "": "The pod this Toleration is attached to tolerates any taint that matches the triple "
             "<key,value,effect> using the matching operator <operator>.",
        "key": "Key is the taint key that the toleration applies to. Empty means match all taint keys; then "
               "the operator must be Exists.",
        "operator": "Operator represents a key's relationship to the value: Exists or Equal. Defaults to Equal.",
        "value": "Value is the taint value the toleration matches to. Empty when the operator is Exists.",
        "effect": "Effect indicates the taint effect to match: NoSchedule, PreferNoSchedule or NoExecute. "
                  "Empty means match all taint effects.",
        "tolerationSeconds": "The period of time the toleration (which must be of effect NoExecute) tolerates "
                             "the taint before the pod is evicted.",
    },
    "Taint": {
        "": "The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint.",
        "key": "The taint key to be applied to a node.",
        "value": "The taint value corresponding to the taint key.",
        "effect": "The effect of the taint on pods that do not tolerate the taint: NoSchedule, "
                  "PreferNoSchedule or NoExecute.",
        "timeAdded": "The time at which the taint was added (NoExecute taints only).",
    },
    "ContainerStatus": {
        "": "ContainerStatus contains details for the current status of this container.",
        "name": "The name of the container, as in the pod's spec.",
        "ready": "Whether the container is currently passing its readiness check.",
        "restartCount": "The number of times the container has been restarted.",
        "state": "Details about the container's current condition.",
        "lastState": "Details about the container's last termination condition.",
        "containerID": "Container's ID in the format '<type>://<container_id>'.",
        "image": "The image the container is running.",
        "hostPorts": "haplane: the node port each declared container port is published on, by port name or "
                     "number.",
    },
    "ContainerState": {
        "": "ContainerState holds a possible state of container. Only one of its members may be specified.",
        "running": "Details about a running container.",
        "waiting": "Details about a waiting container.",
        "terminated": "Details about a terminated container.",
    },
    "HTTPGetAction": {"": "HTTPGetAction describes an action based on HTTP Get requests.",
                      "path": "Path to access on the HTTP server.",
                      "port": "Name or number of the port to access on the container."},
    "TCPSocketAction": {"": "TCPSocketAction describes an action based on opening a socket.",
                        "port": "Number or name of the port to access on the container."},
    "ExecAction": {"": "ExecAction describes a \"run in container\" action.",
                   "command": "Command is the command line to execute inside the container; it is not run in a "
                              "shell."},
    "NodeStatus": {
        "": "NodeStatus is information about the current status of a node.",
        "capacity": "Capacity represents the total resources of a node.",
        "allocatable": "Allocatable represents the resources of a node that are available for scheduling.",
        "conditions": "Conditions is an array of current observed node conditions (Ready, ...).",
        "addresses": "List of addresses reachable to the node.",
        "daemonEndpoints": "Endpoints of daemons running on the Node: where its agent serves logs and streams.",
        "nodeInfo": "Set of ids/uuids to uniquely identify the node.",
    },
    "EndpointSubset": {
        "": "EndpointSubset is a group of addresses with a common set of ports.",
        "addresses": "IP addresses which offer the related ports that are marked as ready.",
        "notReadyAddresses": "IP addresses which offer the related ports but are not currently marked as ready.",
        "ports": "Port numbers available on the related IP addresses.",
    },
    "Endpoints": {"": "Endpoints is a collection of endpoints that implement the actual service.",
                  "subsets": "The set of all endpoints is the union of all subsets."},

    "ScaleSpec": {"": "ScaleSpec describes the attributes of a scale subresource.",
                  "replicas": "desired number of instances for the scaled object."},
    "ScaleStatus": {"": "ScaleStatus represents the current status of a scale subresource.",
                    "replicas": "actual number of observed instances of the scaled object.",
                    "selector": "label query over pods that should match the replicas count (a label selector "
                                "string)."},
}


def describe(class_name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of one model's JSON schema with the descriptions of ``class_name`` filled in.

    Works on pydantic's schema (before the OpenAPI 3.0 rewrite), so a described ``$ref`` field
    later becomes ``allOf: [$ref]`` with its description beside it, as Kubernetes writes it.
    """
    out = copy.deepcopy(schema)
    texts = TYPES.get(class_name, {})
    if "" in texts:
        out["description"] = texts[""]
    for field, prop in (out.get("properties") or {}).items():
        text = texts.get(field)
        if text is None and class_name in _TOP and field in COMMON:
            text = COMMON[field].format(kind=class_name)
        if text is not None:
            prop["description"] = text
    return out
