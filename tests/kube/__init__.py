"""kubectl 1.37 and the official clients against haplane: the table issue 11 asks for.

Each item of the issue's "Must show", then the tests that assert it (ids as ``pytest --collect-only -q
tests/kube`` prints them; test_table.py checks every id below is collected and every count is right):

get, every kind: test_get.py::test_get[nodes] test_get.py::test_get[pods] test_get.py::test_get[deployments]
  test_get.py::test_get[services] test_get.py::test_get[namespaces] test_get.py::test_get[configmaps]
  test_get.py::test_get[endpoints] test_get.py::test_get[events] test_rollout.py::test_get_replicasets[get-rs]
  test_discovery.py::test_get_reaches_the_list_request[po] test_discovery.py::test_get_all_lists_the_all_category
get -o wide: test_get.py::test_get[pods-wide] test_get.py::test_get[nodes-wide] test_get.py::test_get[services-wide]
  test_rollout.py::test_get_replicasets[get-rs-wide]
get -o json / yaml / name / jsonpath / custom-columns: test_get.py::test_get_output_formats[json]
  test_get.py::test_get_output_formats[yaml] test_get.py::test_get_output_formats[name]
  test_get.py::test_get_output_formats[jsonpath] test_get.py::test_get_output_formats[custom-columns]
get -l / --field-selector / -A: test_get.py::test_get[label-selector] test_get.py::test_get[field-selector]
  test_get.py::test_get[field-selector-nodes] test_get.py::test_get[all-namespaces]
get -w: test_get.py::test_watch_prints_a_created_pod test_get.py::test_watch_as_table_sends_the_columns_once
describe: test_get.py::test_describe[pod] test_get.py::test_describe[deployment] test_get.py::test_describe[node]
  test_get.py::test_describe[service]
create: test_apply.py::test_kubectl_writes[create] test_access.py::test_kubectl_create_generators[deployment]
apply twice with a change: test_apply.py::test_kubectl_writes[apply-client-side]
apply --server-side, a conflict, --force-conflicts: test_apply.py::test_kubectl_writes[apply-server-side]
  test_apply.py::test_kubectl_writes[apply-server-side-after-client-side]
diff: test_apply.py::test_kubectl_writes[diff] test_discovery.py::test_kubectl_diff_of_a_new_object_creates_nothing
patch (strategic, merge, json): test_apply.py::test_kubectl_writes[patch]
label, annotate: test_apply.py::test_kubectl_writes[label-annotate]
edit (KUBE_EDITOR): test_apply.py::test_kubectl_writes[edit]
scale, set image: test_apply.py::test_kubectl_writes[set-image-scale] test_rollout.py::test_scale_deployment
  test_rollout.py::test_scale_a_standalone_replicaset
rollout status: test_rollout.py::test_rollout_status_returns_when_the_rollout_is_done
  test_rollout.py::test_rollout_status_fails_past_the_progress_deadline
rollout history: test_rollout.py::test_rollout_history[history] test_rollout.py::test_rollout_history[history-revision]
rollout undo: test_rollout.py::test_rollout_undo[undo-to-previous] test_rollout.py::test_rollout_undo[undo-to-revision]
rollout restart: test_rollout.py::test_kubectl_rollout_restart_makes_a_new_replicaset
rollout pause / resume: test_rollout.py::test_kubectl_rollout_pause_holds_a_template_change_until_resume
delete, each cascade mode: test_get.py::test_delete_cascade[background] test_get.py::test_delete_cascade[foreground]
  test_get.py::test_delete_cascade[orphan]
logs -f: test_streams.py::test_logs_follow
exec (output and exit code): test_streams.py::test_command[exec-exit-code]
port-forward (an HTTP request through it): test_streams.py::test_port_forward_http
cp: test_streams.py::test_cp_both_ways
cordon / drain / uncordon: test_access.py::test_cordon_drain_uncordon
top pods / top nodes (issue 13: non-zero CPU and memory of a busy container, process and Docker runtimes):
  test_top.py::test_kubectl_top_pods test_top.py::test_kubectl_top_nodes test_top.py::test_haplane_top_pods_and_nodes
  test_top_docker.py::test_kubectl_top_pods test_top_docker.py::test_kubectl_top_nodes
  test_top_docker.py::test_haplane_top_pods_and_nodes
api-resources, api-versions: test_discovery.py::test_api_resources[api-resources] test_discovery.py::test_api_versions
explain, version: test_discovery.py::test_explain[pods] test_discovery.py::test_version[version]
auth can-i: test_access.py::test_auth_can_i[viewer-create-pods] test_access.py::test_auth_can_i_list
the session survives SIGKILL of the replica behind the load balancer:
  test_access.py::test_kubectl_survives_sigkill_of_the_replica_behind_the_lb[n1]
official clients, list/create/read/replace/patch (merge, strategic, json)/delete/watch with resume:
  test_clients.py::test_configmap_crud_and_patches test_clients.py::test_strategic_merge_patch_is_the_default_for_objects
  test_clients.py::test_watch_with_resume_from_a_resource_version
  test_clients.py::test_deployment_create_scale_patch_status_delete test_clients.py::test_replicasets_of_a_deployment
  test_clients.py::test_asyncio_client

Distinct commands and calls covered by asserting tests: 102.

kubectl commands (42): get; describe; create -f; create configmap; create namespace; create deployment; create
  service; apply; apply --server-side; diff; patch; label; annotate; edit; replace; scale; set image; set env; run;
  rollout status; rollout history; rollout undo; rollout restart; rollout pause; rollout resume; delete; logs; exec;
  port-forward; cp; cordon; drain; uncordon; api-resources; api-versions; explain; version; auth can-i; auth whoami;
  get/create --raw; top pods; top nodes.
kubernetes calls (48): CoreV1Api.create_namespace; CoreV1Api.read_namespace; CoreV1Api.list_namespace;
  CoreV1Api.replace_namespace; CoreV1Api.patch_namespace; CoreV1Api.delete_namespace;
  CoreV1Api.create_namespaced_config_map; CoreV1Api.read_namespaced_config_map; CoreV1Api.list_namespaced_config_map;
  CoreV1Api.replace_namespaced_config_map; CoreV1Api.patch_namespaced_config_map;
  CoreV1Api.delete_namespaced_config_map; CoreV1Api.create_namespaced_pod; CoreV1Api.read_namespaced_pod;
  CoreV1Api.read_namespaced_pod_status; CoreV1Api.list_namespaced_pod; CoreV1Api.list_pod_for_all_namespaces;
  CoreV1Api.delete_namespaced_pod; CoreV1Api.create_namespaced_service; CoreV1Api.read_namespaced_service;
  CoreV1Api.patch_namespaced_service; CoreV1Api.delete_namespaced_service; CoreV1Api.list_service_for_all_namespaces;
  CoreV1Api.list_node; CoreV1Api.read_node; CoreV1Api.patch_node; CoreV1Api.list_event_for_all_namespaces;
  AppsV1Api.create_namespaced_deployment; AppsV1Api.read_namespaced_deployment; AppsV1Api.list_namespaced_deployment;
  AppsV1Api.list_deployment_for_all_namespaces; AppsV1Api.replace_namespaced_deployment;
  AppsV1Api.patch_namespaced_deployment; AppsV1Api.delete_namespaced_deployment;
  AppsV1Api.read_namespaced_deployment_scale; AppsV1Api.replace_namespaced_deployment_scale;
  AppsV1Api.read_namespaced_deployment_status; AppsV1Api.list_namespaced_replica_set;
  AppsV1Api.read_namespaced_replica_set; AppsV1Api.list_replica_set_for_all_namespaces; VersionApi.get_code;
  CoreApi.get_api_versions; ApisApi.get_api_versions; CoreV1Api.get_api_resources; AppsV1Api.get_api_resources;
  AppsApi.get_api_group; Watch.stream; DynamicClient.resources.get.
kubernetes_asyncio calls (12): CoreV1Api.list_namespaced_config_map; CoreV1Api.create_namespaced_config_map;
  CoreV1Api.read_namespaced_config_map; CoreV1Api.replace_namespaced_config_map; CoreV1Api.patch_namespaced_config_map;
  CoreV1Api.delete_namespaced_config_map; CoreV1Api.list_node; AppsV1Api.create_namespaced_deployment;
  AppsV1Api.read_namespaced_deployment; AppsV1Api.delete_namespaced_deployment; Watch.stream; VersionApi.get_code.
"""
