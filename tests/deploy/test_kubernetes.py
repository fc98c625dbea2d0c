"""k8s/: every overlay renders, matches the Kubernetes and KEDA schemas, and agrees with the
code it deploys (queue names, worker node names, time limits, settings, upload size)."""

from __future__ import annotations

import copy
import os
import re
from importlib.metadata import version as installed_version
from typing import Any
from urllib.parse import urlsplit

import pytest
from geopin.settings import Settings
from geopin_gateway.app import MULTIPART_OVERHEAD_BYTES

from tests.deploy.artefacts import (
    K8S_VERSIONS,
    OVERLAYS,
    Obj,
    by_kind,
    config_env,
    containers,
    is_geopin_image,
    k8s_bytes,
    k8s_cpu,
    keda_validator,
    one,
    option,
    redis_bytes,
    redis_option,
    render,
    validate_kubernetes,
    worker_options,
    workloads,
)

NAMESPACE = "geopin"
# Made outside the manifests on purpose (docs/deployment.md, "Secrets").
EXTERNAL = {"prod-gpu": {("Secret", "geopin-elasticsearch"), ("Secret", "geopin-tls")}}
# Each worker Deployment and the `python -m geopin.worker` kind its image starts.
WORKERS = {"embedder": "embed", "searcher": "search", "notifier": "notify"}
CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the containers, not a temporary file here


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def settings_of(objects: tuple[Obj, ...], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a GeoPin pod gets: its ConfigMap on top of the defaults (validated)."""
    for name in list(os.environ):
        if name.startswith("GEOPIN_"):
            monkeypatch.delenv(name)
    for name, value in config_env(objects).items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_there_is_a_cpu_and_a_gpu_overlay() -> None:
    assert {"dev-cpu", "prod-gpu"} <= set(OVERLAYS)


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_every_object_matches_the_kubernetes_or_keda_schema(overlay: str, k8s_version: str) -> None:
    for obj in render(overlay):
        if obj["apiVersion"] == "keda.sh/v1alpha1":
            assert obj["kind"] == "ScaledObject", f"no schema here for KEDA's {obj['kind']}"
            keda_validator()(obj)
        else:
            validate_kubernetes(obj, k8s_version)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "triggers", 0, "metadata", "listLength"), 20),  # the CRD wants strings
        (("spec", "triggers", 0, "metadata", "listlength"), "20"),  # KEDA would ignore it
        (("spec", "minReplicas"), 1),  # the HPA's name for minReplicaCount
        (("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown"), 300),
    ],
)
def test_the_keda_schema_rejects_typos_and_wrong_types(path: tuple[Any, ...], value: Any) -> None:
    broken = copy.deepcopy(one(render("dev-cpu"), "ScaledObject", "embedder"))
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(AssertionError):
        keda_validator()(broken)


def test_everything_is_in_the_geopin_namespace(overlay: str) -> None:
    for obj in render(overlay):
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


def test_referenced_objects_exist(overlay: str) -> None:
    objects = render(overlay)
    present = {(o["kind"], o["metadata"]["name"]) for o in objects}
    allowed_missing = EXTERNAL.get(overlay, set())
    wanted: set[tuple[str, str]] = set()
    for workload in workloads(objects):
        pod = workload["spec"]["template"]["spec"]
        for container in containers(pod):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    wanted.add(("ConfigMap", source["configMapRef"]["name"]))
                if "secretRef" in source:
                    wanted.add(("Secret", source["secretRef"]["name"]))
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    wanted.add(("ConfigMap", ref["configMapKeyRef"]["name"]))
                if "secretKeyRef" in ref:
                    wanted.add(("Secret", ref["secretKeyRef"]["name"]))
            for mount in container.get("volumeMounts", []):
                names = {v["name"] for v in pod.get("volumes", [])}
                names |= {
                    t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
                }
                assert mount["name"] in names, f"{workload['metadata']['name']}: {mount['name']}"
        if workload["kind"] == "StatefulSet":
            wanted.add(("Service", workload["spec"]["serviceName"]))
    for ingress in by_kind(objects, "Ingress").values():
        for tls in ingress["spec"].get("tls", []):
            wanted.add(("Secret", tls["secretName"]))
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = one(objects, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    missing = wanted - present
    assert missing <= allowed_missing, f"referenced but not rendered: {missing - allowed_missing}"


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_selectors_select_pods(overlay: str) -> None:
    objects = render(overlay)
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads(objects)]
    for workload in workloads(objects):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert _selects(selector, workload["spec"]["template"]["metadata"]["labels"])
        # No workload's selector may also catch another workload's pods.
        assert sum(_selects(selector, labels) for labels in pod_labels) == 1
    for service in by_kind(objects, "Service").values():
        assert any(_selects(service["spec"]["selector"], labels) for labels in pod_labels)
    for pdb in by_kind(objects, "PodDisruptionBudget").values():
        assert any(_selects(pdb["spec"]["selector"]["matchLabels"], lbl) for lbl in pod_labels)


def test_each_scaled_deployment_has_one_scaler_and_no_fixed_replicas(overlay: str) -> None:
    objects = render(overlay)
    deployments = by_kind(objects, "Deployment")
    targets = [
        h["spec"]["scaleTargetRef"] for h in by_kind(objects, "HorizontalPodAutoscaler").values()
    ]
    targets += [s["spec"]["scaleTargetRef"] for s in by_kind(objects, "ScaledObject").values()]
    names = [t["name"] for t in targets]
    assert sorted(names) == sorted(deployments), "each Deployment is scaled by exactly one scaler"
    for target in targets:
        assert target.get("kind", "Deployment") == "Deployment"
        # A fixed count would be reset by every `kubectl apply`, fighting the autoscaler.
        assert "replicas" not in deployments[target["name"]]["spec"]


def test_pods_meet_the_restricted_security_standard(overlay: str) -> None:
    for workload in workloads(render(overlay)):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            assert "privileged" not in context
            if is_geopin_image(container["image"]) or container["name"] == "redis":
                assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            if is_geopin_image(container["image"]):
                (tmp,) = (m for m in container["volumeMounts"] if m["mountPath"] == CONTAINER_TMP)
                assert "emptyDir" in volumes[tmp["name"]], (name, container["name"])


def test_containers_have_requests_and_limits(overlay: str) -> None:
    for workload in workloads(render(overlay)):
        for container in containers(workload["spec"]["template"]["spec"]):
            where = f"{workload['metadata']['name']}/{container['name']}"
            requests = container["resources"]["requests"]
            limits = container["resources"]["limits"]
            assert k8s_cpu(requests["cpu"]) <= k8s_cpu(limits["cpu"]), where
            assert k8s_bytes(requests["memory"]) <= k8s_bytes(limits["memory"]), where
            if "nvidia.com/gpu" in requests:  # Kubernetes requires a GPU request == limit
                assert requests["nvidia.com/gpu"] == limits["nvidia.com/gpu"], where


def test_gateway_probes_use_the_health_endpoints(overlay: str) -> None:
    gateway = one(render(overlay), "Deployment", "gateway")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("component", sorted(WORKERS))
def test_worker_probes_ping_the_pods_own_celery_node(
    overlay: str, component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = option(worker_options(WORKERS[component], monkeypatch), "--hostname")
    assert node.endswith("@%h"), "the probe relies on Celery naming the node after the host"
    expected = f'--destination "{node.removesuffix("%h")}$HOSTNAME"'
    deployment = one(render(overlay), "Deployment", component)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["sh", "-c"]
        assert "inspect ping" in command[2], (probe, command)
        assert expected in command[2], (probe, command)
        assert container[probe]["timeoutSeconds"] > 10, "longer than the ping's own --timeout"


def test_worker_grace_period_outlasts_the_hard_time_limit(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    settings = settings_of(objects, monkeypatch)
    for component in WORKERS:
        pod = one(objects, "Deployment", component)["spec"]["template"]["spec"]
        grace = pod["terminationGracePeriodSeconds"]
        assert grace > settings.celery.hard_time_limit_s, (
            f"{component}: a task may run {settings.celery.hard_time_limit_s} s; "
            f"Kubernetes kills the pod after {grace} s"
        )


def test_keda_watches_the_celery_queues_in_the_right_redis(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    redis_url = urlsplit(settings_of(objects, monkeypatch).redis.url)
    redis_service = one(objects, "Service", redis_url.hostname or "")
    redis_port = redis_url.port or 6379
    assert redis_port in {p["port"] for p in redis_service["spec"]["ports"]}
    scaled = by_kind(objects, "ScaledObject")
    assert sorted(scaled) == sorted(WORKERS)
    for component, worker in WORKERS.items():
        queue = option(worker_options(worker, monkeypatch), "--queues")
        (trigger,) = scaled[component]["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert trigger["type"] == "redis"
        assert scaled[component]["spec"]["scaleTargetRef"]["name"] == component
        assert metadata["listName"] == queue
        # KEDA's operator resolves the address from its own namespace.
        host = f"{redis_url.hostname}.{NAMESPACE}.svc.cluster.local"
        assert metadata["address"] == f"{host}:{redis_port}"
        assert metadata["databaseIndex"] == (redis_url.path.strip("/") or "0")


def test_the_embedder_never_scales_to_zero(overlay: str) -> None:
    # The gateway's readiness (/readyz) needs an embedder with a loaded model: with none,
    # no gateway is ready, no job arrives, and nothing would ever scale the embedder up.
    embedder = one(render(overlay), "ScaledObject", "embedder")
    assert embedder["spec"]["minReplicaCount"] >= 1


def test_one_waiting_task_is_enough_to_wake_a_worker(overlay: str) -> None:
    # KEDA activates at a list length *above* activationListLength: any higher value would
    # leave a lone job waiting at zero replicas until more jobs arrived.
    for scaled in by_kind(render(overlay), "ScaledObject").values():
        assert scaled["spec"]["triggers"][0]["metadata"]["activationListLength"] == "0"
        assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


def test_only_prod_schedules_the_embedder_on_gpus() -> None:
    for overlay in OVERLAYS:
        for workload in workloads(render(overlay)):
            for container in containers(workload["spec"]["template"]["spec"]):
                gpus = container["resources"]["limits"].get("nvidia.com/gpu")
                if overlay == "prod-gpu" and container["name"] == "embedder":
                    assert gpus == 1
                else:
                    assert gpus is None, (overlay, workload["metadata"]["name"])
    pod = one(render("prod-gpu"), "Deployment", "embedder")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (container,) = pod["containers"]
    assert "/embedder-gpu:" in container["image"]
    (init,) = pod["initContainers"]  # checks the model baked into the same image
    assert init["image"] == container["image"]
    assert "CUDAExecutionProvider" in str(container["env"])
    # The trained model is baked into the image: no volume may hide it.
    assert all(m["mountPath"] != "/models" for m in container["volumeMounts"])


def test_dev_writes_the_default_model_with_the_toolchain_only_when_none_exists() -> None:
    pod = one(render("dev-cpu"), "Deployment", "embedder")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"].startswith("geopin/tools:")  # the embedder image has no toolchain
    script = init["command"][2]
    assert '[ -f "$GEOPIN_MODEL__PATH" ]' in script
    assert 'geopin model default -o "$GEOPIN_MODEL__PATH"' in script
    assert "--force" not in script


def test_redis_persists_jobs_and_never_evicts_them(overlay: str) -> None:
    redis = one(render(overlay), "StatefulSet", "redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert redis_option(args, "--appendonly") == "yes"
    assert redis_option(args, "--maxmemory-policy") == "noeviction"
    limit = k8s_bytes(container["resources"]["limits"]["memory"])
    # An AOF rewrite forks: leave the child room under the limit.
    assert redis_bytes(redis_option(args, "--maxmemory")) <= 0.8 * limit


def test_elasticsearch_is_8_19_21_with_security_and_a_fitting_heap(overlay: str) -> None:
    es = one(render(overlay), "StatefulSet", "elasticsearch")
    (container,) = es["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "docker.elastic.co/elasticsearch/elasticsearch:8.19.21"
    assert installed_version("elasticsearch").split(".")[0] == "8", "client and server: 8.x"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["xpack.security.enabled"] == "true"
    heap = re.fullmatch(r"-Xms(\d+[mg]) -Xmx(\d+[mg])", env["ES_JAVA_OPTS"])
    assert heap
    assert heap[1] == heap[2]
    heap_bytes = redis_bytes(heap[1] + "b")  # 512m -> 512mb: binary units, like the JVM's
    assert heap_bytes <= k8s_bytes(container["resources"]["limits"]["memory"]) / 2


def test_images_are_pinned(overlay: str) -> None:
    for workload in workloads(render(overlay)):
        for container in containers(workload["spec"]["template"]["spec"]):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name, image
            assert "/" not in tag, image
            assert tag not in {"", "latest"}, image
            if overlay == "prod-gpu" and is_geopin_image(image):
                assert not image.startswith("geopin/"), f"{image}: prod pulls from a registry"


def test_prod_carries_no_placeholder_secret() -> None:
    assert not by_kind(render("prod-gpu"), "Secret")
    assert "change-me" not in str(render("prod-gpu"))


def test_prod_requires_api_keys_because_others_reach_its_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docs/security.md: keys must be on wherever others can reach the gateway.
    assert settings_of(render("prod-gpu"), monkeypatch).auth.enabled is True


def test_the_notifier_never_scales_to_zero(overlay: str) -> None:
    # Its mover thread re-queues due retries; at zero replicas nothing would move them.
    notifier = one(render(overlay), "ScaledObject", "notifier")
    assert notifier["spec"]["minReplicaCount"] >= 1


def test_the_ingress_accepts_the_largest_upload(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    largest = settings_of(objects, monkeypatch).images.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    (ingress,) = by_kind(objects, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    for key in ("nginx.ingress.kubernetes.io/proxy-body-size", "nginx.org/client-max-body-size"):
        size = re.fullmatch(r"(\d+)m", annotations[key])
        assert size, annotations[key]
        assert int(size[1]) * 2**20 >= largest, f"{key} is below {largest} bytes"
