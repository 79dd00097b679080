"""The Helm chart, checked without a cluster: Helm's own engine renders and lints it,
kubernetes-validate checks every core object against two Kubernetes versions, the CRD objects
are checked against (hand-written subsets of) their CRD schemas, promtool checks and unit-tests
the rules, and the dashboard's queries are parsed and compared with a real server's metrics."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from tritontts.serving.server import DRAINED_EXIT_S, TritonServer
from tritontts_client import TTSClient

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tritontts"
DATA = Path(__file__).resolve().parents[1] / "data"
RELEASE, NAMESPACE = "tts", "speech"
FULLNAME = f"{RELEASE}-tritontts"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CRD_SCHEMAS = {  # kind -> hand-written subset of the upstream CRD's schema (tests/data/crd)
    "ServiceMonitor": "servicemonitor.json",
    "PodMonitor": "podmonitor.json",
    "PrometheusRule": "prometheusrule.json",
    "ScaledObject": "scaledobject.json",
}
VALUES_SETS = {
    "gpu": CHART / "values-gpu.yaml",
    "cpu": CHART / "values-cpu.yaml",
    "keda": DATA / "helm" / "keda.yaml",
    "object-store-ingress-tls": DATA / "helm" / "object-store-ingress-tls.yaml",
    "pvc": DATA / "helm" / "pvc.yaml",
    "gateway-worker": DATA / "helm" / "gateway-worker.yaml",
}
# Triton reports these only where it sees a GPU: the CPU test server cannot show them.
GPU_ONLY_METRICS = frozenset({
    "nv_gpu_utilization",
    "nv_gpu_memory_used_bytes",
    "nv_gpu_memory_total_bytes",
})

sys.path.insert(0, str(ROOT / "helm"))
import dashboard  # noqa: E402  (helm/dashboard.py, the generator)


def load_values(name: str) -> dict:
    return yaml.safe_load(VALUES_SETS[name].read_text()) or {}


@functools.cache
def _rendered(name: str) -> tuple[dict, ...]:
    manifests = helm.Chart.load(CHART).render(load_values(name), name=RELEASE,
                                              namespace=NAMESPACE)
    objects = []
    for text in manifests.values():
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return tuple(objects)


def rendered(name: str) -> list[dict]:
    return [json.loads(json.dumps(o)) for o in _rendered(name)]  # a copy per test


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    if name is None and len(found) > 1:  # the gateway's and workers' own: the Triton one
        found = [o for o in found if o["metadata"]["name"] == FULLNAME]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


def kinds(objects: list[dict]) -> set[str]:
    return {o["kind"] for o in objects}


def is_triton(obj: dict) -> bool:
    """An object of the Triton pods, not of the optional gateway or workers."""
    return obj["metadata"]["labels"]["app.kubernetes.io/component"] == "inference"


def main_container(deployment: dict) -> dict:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"]
                if c["name"] == "tritontts")


def arg(container: dict, flag: str) -> str:
    values = [a.split("=", 1)[1] for a in container["args"] if a.startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} given {len(values)} times"
    return values[0]


# ---- rendering, lint, values schema ---------------------------------------------------------

@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_chart_renders_and_lints_strict(values: str) -> None:
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= kinds(
        rendered(values))
    for version in KUBERNETES_VERSIONS:
        report = helm.lint(CHART, load_values(values), strict=True, namespace=NAMESPACE,
                           kube_version=f"v{version}")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert not problems, problems


@pytest.mark.parametrize(("values", "message"), [
    ("bad-type.yaml", "/replicaCount': got string, want integer"),
    ("bad-key.yaml", "additional properties 'gpu' not allowed"),
])
def test_values_of_a_wrong_type_or_an_unknown_key_are_refused(values: str, message: str) -> None:
    bad = yaml.safe_load((DATA / "helm" / values).read_text())
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        helm.Chart.load(CHART).render(bad, name=RELEASE, namespace=NAMESPACE)
    report = helm.lint(CHART, bad, strict=True)
    assert any(message in m["error"] for m in report["messages"] if m["severity"] == 3)


def test_every_object_of_the_schema_refuses_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict, path: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}")
    walk(schema, "values")
    # ... and the chart's own defaults and presets satisfy it.
    chart = helm.Chart.load(CHART)
    for name in VALUES_SETS:
        chart.validate_schema(load_values(name))


@pytest.mark.parametrize(("values", "message"), [
    ({"terminationGracePeriodSeconds": 60}, "must exceed preStopSleepSeconds"),
    ({"profile": "gpu"}, "profile gpu needs resources.gpus >= 1"),
    ({"modelRepository": {"source": "pvc"}}, "needs modelRepository.pvc.claimName"),
    ({"modelRepository": {"source": "objectStore",
                          "objectStore": {"url": "s3://b/p"}}}, "an s3:// url and secretName"),
    ({"tls": {"enabled": True}}, "tls.enabled needs tls.secretName"),
    ({"ingress": {"enabled": True}}, "needs grpcHost, httpHost and tlsSecretName"),
])
def test_inconsistent_values_fail_with_a_message(values: dict, message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        helm.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE)


# ---- schemas of the rendered objects --------------------------------------------------------

@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_core_objects_pass_kubernetes_validate_strict(values: str) -> None:
    core = [o for o in rendered(values) if o["kind"] not in CRD_SCHEMAS]
    assert core
    for version in KUBERNETES_VERSIONS:
        for obj in core:
            # SchemaNotFoundError (a kind it does not know) fails the test as well.
            validated = kubernetes_validate.validate(obj, version, strict=True)
            assert validated == version.rsplit(".", 1)[0]


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_crd_objects_pass_their_crd_schemas(values: str) -> None:
    custom = [o for o in rendered(values) if o["kind"] in CRD_SCHEMAS]
    for obj in custom:
        schema = json.loads((DATA / "crd" / CRD_SCHEMAS[obj["kind"]]).read_text())
        jsonschema.Draft202012Validator(schema).validate(obj)
    expected = {"gpu": {"ServiceMonitor", "PrometheusRule"},
                "cpu": {"ServiceMonitor", "PrometheusRule"},
                "keda": {"ServiceMonitor", "PrometheusRule", "ScaledObject"},
                "object-store-ingress-tls": {"PodMonitor", "PrometheusRule"},
                "pvc": set(),
                "gateway-worker": {"ServiceMonitor", "PrometheusRule", "ScaledObject"}}[values]
    assert kinds(custom) == expected


def test_the_crd_schemas_refuse_what_the_api_server_would() -> None:
    rule = one(rendered("gpu"), "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["recrod"] = "typo"
    schema = json.loads((DATA / "crd" / "prometheusrule.json").read_text())
    with pytest.raises(jsonschema.ValidationError, match="recrod"):
        jsonschema.validate(rule, schema, cls=jsonschema.Draft202012Validator)


# ---- what the rendered objects say ----------------------------------------------------------

@pytest.mark.parametrize("values", ["gpu", "cpu"])
def test_probes_use_the_ready_and_live_paths(values: str) -> None:
    deployment = one(rendered(values), "Deployment")
    container = main_container(deployment)
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/models/tts/ready",
                                                      "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/models/tts/ready"
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    startup = container["startupProbe"]
    # The startup window outlasts the runner's own ready timeout, so a slow load is not killed.
    assert (startup["periodSeconds"] * startup["failureThreshold"]
            > int(arg(container, "--ready-timeout")))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": int(arg(container, "--http-port")),
                     "grpc": int(arg(container, "--grpc-port")),
                     "metrics": int(arg(container, "--metrics-port"))}
    assert arg(container, "--host") == "0.0.0.0"


def test_gpu_values_ask_for_a_gpu_on_gpu_nodes() -> None:
    spec = one(rendered("gpu"), "Deployment")["spec"]["template"]["spec"]
    resources = main_container({"spec": {"template": {"spec": spec}}})["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"] == resources["limits"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expression = terms["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert expression["key"] == "nvidia.com/gpu.product" and expression["operator"] == "In"
    assert expression["values"] == load_values("gpu")["gpuProducts"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists",
            "effect": "NoSchedule"} in spec["tolerations"]
    assert main_container({"spec": {"template": {"spec": spec}}})["image"].endswith("-gpu")
    # Engines are built on the node that runs them, by an initContainer that has the GPU.
    export = next(c for c in spec["initContainers"] if c["name"] == "export")
    assert "--engines" in export["args"]
    assert export["resources"]["limits"]["nvidia.com/gpu"] == "1"
    repository = next(c for c in spec["initContainers"] if c["name"] == "repository")
    assert "--profile=gpu" in repository["args"]
    assert "--engines-dir=/export/engines/en_US-joe-medium" in repository["args"]


def test_cpu_values_ask_for_no_gpu_and_no_gpu_node() -> None:
    spec = one(rendered("cpu"), "Deployment")["spec"]["template"]["spec"]
    for container in spec["containers"] + spec["initContainers"]:
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        assert container["resources"]["requests"] == container["resources"]["limits"]
    assert "affinity" not in spec and "tolerations" not in spec
    export = next(c for c in spec["initContainers"] if c["name"] == "export")
    assert "--engines" not in export["args"]
    repository = next(c for c in spec["initContainers"] if c["name"] == "repository")
    assert "--profile=cpu" in repository["args"] and "--tuning=latency" in repository["args"]


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_selectors_match_the_pod_labels(values: str) -> None:
    objects = rendered(values)
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict, labels: dict) -> bool:
        return selector.items() <= labels.items()

    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        selector = one(objects, kind)["spec"].get("selector") or one(objects, kind)["spec"][
            "podSelector"]
        assert selects(selector["matchLabels"], pod_labels), kind
    services = [o for o in objects if o["kind"] == "Service" and is_triton(o)]
    assert {s["metadata"]["name"] for s in services} == {FULLNAME, f"{FULLNAME}-metrics"}
    container_ports = {p["name"] for p in main_container(deployment)["ports"]}
    for service in services:
        assert selects(service["spec"]["selector"], pod_labels)
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    monitors = [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")
                and is_triton(o)]
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        if monitor["kind"] == "ServiceMonitor":
            matched = [s for s in services if selects(selector, s["metadata"]["labels"])]
            assert [s["metadata"]["name"] for s in matched] == [f"{FULLNAME}-metrics"]
            endpoints = monitor["spec"]["endpoints"]
        else:
            assert selects(selector, pod_labels)
            endpoints = monitor["spec"]["podMetricsEndpoints"]
        assert [e["port"] for e in endpoints] == ["metrics"]
        # The rules select on job = the release's full name; the monitor makes it so.
        assert endpoints[0]["relabelings"] == [
            {"action": "replace", "targetLabel": "job", "replacement": FULLNAME}]
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        service = one(objects, "Service", backend["name"])
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize(("values", "kind"), [("cpu", "HorizontalPodAutoscaler"),
                                              ("gpu", "HorizontalPodAutoscaler"),
                                              ("keda", "ScaledObject")])
def test_the_autoscaler_targets_the_queue_time_of_the_gate_stage(values: str, kind: str) -> None:
    objects = rendered(values)
    deployment = one(objects, "Deployment")
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    settings = load_values(values)["autoscaling"]
    scaler = one(objects, kind)
    assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": deployment["metadata"]["name"]}
    if kind == "HorizontalPodAutoscaler":
        assert scaler["apiVersion"] == "autoscaling/v2"
        (metric,) = scaler["spec"]["metrics"]
        assert metric["type"] == "Pods"
        assert metric["pods"]["metric"] == {
            "name": "tritontts_queue_time_per_request_ms",
            "selector": {"matchLabels": {"model": "acoustic"}}}
        assert metric["pods"]["target"] == {"type": "AverageValue",
                                            "averageValue": str(settings["targetQueueTimeMs"])}
        assert (scaler["spec"]["minReplicas"], scaler["spec"]["maxReplicas"]) == (
            settings["minReplicas"], settings["maxReplicas"])
    else:
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
        assert trigger["metadata"]["threshold"] == str(settings["targetQueueTimeMs"])
        assert trigger["metadata"]["query"] == (
            f'sum(tritontts:queue_time_per_request_ms:rate2m{{job="{FULLNAME}", '
            f'namespace="{NAMESPACE}", model="acoustic"}})')
        assert (scaler["spec"]["minReplicaCount"], scaler["spec"]["maxReplicaCount"]) == (
            settings["minReplicas"], settings["maxReplicas"])
    # The metric the autoscaler reads is recorded by the chart's own rule.
    records = {r.get("record") for g in one(objects, "PrometheusRule")["spec"]["groups"]
               for r in g["rules"]}
    assert "tritontts:queue_time_per_request_ms:rate2m" in records


def test_no_autoscaler_means_fixed_replicas() -> None:
    objects = rendered("pvc")
    assert one(objects, "Deployment")["spec"]["replicas"] == 2
    assert not kinds(objects) & {"HorizontalPodAutoscaler", "ScaledObject"}


def _peers(policy: dict) -> dict[frozenset, list]:
    """{ports of a rule: the namespaces its peers name}."""
    result = {}
    for rule in policy["spec"]["ingress"]:
        ports = frozenset(p["port"] for p in rule["ports"])
        names = []
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, "peers are whole namespaces"
            selector = peer["namespaceSelector"]
            names += selector.get("matchLabels", {}).values()
            for expression in selector.get("matchExpressions", []):
                assert expression["key"] == "kubernetes.io/metadata.name"
                assert expression["operator"] == "In"
                names += expression["values"]
        assert rule["from"], "a rule without peers would admit everyone"
        result[ports] = sorted(names)
    return result


def test_network_policy_admits_named_namespaces_to_inference_and_monitoring_to_metrics() -> None:
    policy = one(rendered("keda"), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert _peers(policy) == {frozenset({"http", "grpc"}): ["gateway", "workers"],
                              frozenset({"metrics"}): ["monitoring"]}
    # With an Ingress, its controller's namespace reaches the inference ports too.
    policy = one(rendered("object-store-ingress-tls"), "NetworkPolicy")
    assert _peers(policy)[frozenset({"http", "grpc"})] == ["gateway", "ingress-nginx"]
    # No namespace named: no inference rule at all (not an empty `from`, which admits all).
    policy = one(rendered("cpu"), "NetworkPolicy")
    assert _peers(policy) == {frozenset({"metrics"}): ["monitoring"]}


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_pods_run_non_root_read_only_without_capabilities(values: str) -> None:
    spec = one(rendered(values), "Deployment")["spec"]["template"]["spec"]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    for container in spec["containers"] + spec.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        # Every place written to is a volume: the repository, work space, /tmp (HOME).
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/tmp"] == "tmp" and "emptyDir" in volumes["tmp"]
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
    assert {m["mountPath"] for m in main_container({"spec": {"template": {"spec": spec}}})[
        "volumeMounts"]} >= {"/models", "/dev/shm", "/tmp"}


@pytest.mark.parametrize("values", ["gpu", "cpu"])
def test_grace_period_outlasts_the_drain_and_the_exit(values: str) -> None:
    spec = one(rendered(values), "Deployment")["spec"]["template"]["spec"]
    container = main_container({"spec": {"template": {"spec": spec}}})
    exit_timeout = int(arg(container, "--exit-timeout"))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # `tritontts serve` on SIGTERM: drain for up to the exit timeout, then tritonserver gets
    # DRAINED_EXIT_S (drained) or exit timeout + 10 s (not drained) before it is killed.
    worst_case = pre_stop + exit_timeout + max(DRAINED_EXIT_S, exit_timeout + 10)
    assert spec["terminationGracePeriodSeconds"] > worst_case


def test_object_store_tls_and_keys_come_from_secrets() -> None:
    objects = rendered("object-store-ingress-tls")
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    (fetch,) = spec["initContainers"]
    assert fetch["command"][:3] == ["aws", "s3", "sync"]
    assert "s3://tts-models/en_US-joe-medium/gpu" in fetch["args"]
    assert "--endpoint-url=http://seaweedfs-s3.storage.svc:8333" in fetch["args"]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in fetch["env"]
                  if "valueFrom" in e}
    assert secret_env == {
        "AWS_ACCESS_KEY_ID": {"name": "tts-model-store", "key": "AWS_ACCESS_KEY_ID"},
        "AWS_SECRET_ACCESS_KEY": {"name": "tts-model-store", "key": "AWS_SECRET_ACCESS_KEY"}}
    container = main_container({"spec": {"template": {"spec": spec}}})
    assert arg(container, "--tls-cert") == "/etc/tritontts/tls/tls.crt"
    assert arg(container, "--tls-key") == "/etc/tritontts/tls/tls.key"
    assert arg(container, "--tls-client-ca") == "/etc/tritontts/tls/ca.crt"
    tls = next(v for v in spec["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "tts-grpc-tls"
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "valueFrom" in e}
    # The environment variables `tritontts serve` reads its keys from.
    assert keys == {"TRITONTTS_ADMIN_KEY": {"name": "tts-keys", "key": "admin-key"},
                    "TRITONTTS_API_KEY": {"name": "tts-keys", "key": "api-key"}}
    ingresses = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Ingress"}
    grpc, http = ingresses[f"{FULLNAME}-grpc"], ingresses[f"{FULLNAME}-http"]
    # Triton's gRPC port speaks TLS here, so the controller talks GRPCS to it.
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == (
        "GRPCS")
    assert http["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == (
        "HTTP")
    for ingress, host in ((grpc, "tts-grpc.example.com"), (http, "tts.example.com")):
        assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "tts-example-com"}]


def test_pvc_repository_is_mounted_read_only_without_init_containers() -> None:
    spec = one(rendered("pvc"), "Deployment")["spec"]["template"]["spec"]
    assert "initContainers" not in spec
    models = next(v for v in spec["volumes"] if v["name"] == "models")
    assert models["persistentVolumeClaim"] == {"claimName": "tts-model-repository",
                                               "readOnly": True}
    mount = next(m for m in main_container({"spec": {"template": {"spec": spec}}})[
        "volumeMounts"] if m["name"] == "models")
    assert mount["readOnly"] is True and mount["subPath"] == "en_US-joe-medium"


# ---- Prometheus rules -----------------------------------------------------------------------

def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool missing: `make system-deps` installs Debian's prometheus package"
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def write_rules(path: Path, values: str = "gpu") -> dict:
    spec = one(rendered(values), "PrometheusRule")["spec"]
    path.write_text(yaml.safe_dump({"groups": spec["groups"]}, sort_keys=False))
    return spec


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    for values in ("gpu", "cpu"):
        rules = tmp_path / f"{values}.yaml"
        write_rules(rules, values)
        result = promtool("check", "rules", rules)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    spec = write_rules(rules)
    alerts = {r["alert"] for g in spec["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((DATA / "prometheus" / "alerts_test.yaml").read_text())
    tests["rule_files"] = [str(rules)]
    cases = [c for t in tests["tests"] for c in t["alert_rule_test"]]
    assert {c["alertname"] for c in cases if c["exp_alerts"]} == alerts
    assert {c["alertname"] for c in cases if not c["exp_alerts"]} == alerts
    test_file = tmp_path / "alerts_test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The cpu profile has no GPU alert (Triton reports no GPU metrics there).
    cpu_rules = one(rendered("cpu"), "PrometheusRule")["spec"]["groups"]
    assert "TritonTTSGPUMemoryNearFull" not in {r.get("alert") for g in cpu_rules
                                                for r in g["rules"]}


# ---- Grafana dashboard ----------------------------------------------------------------------

def dashboard_exprs() -> list[str]:
    board = json.loads((CHART / "dashboards" / "tritontts.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    return exprs


# Grafana's variables, replaced by values PromQL accepts.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "speech", "$job": FULLNAME}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, grouping labels
    and function names removed first)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        following = text[match.end():].lstrip()[:1]
        if following != "(" and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def test_dashboard_is_generated_from_code_and_shipped_in_a_labelled_config_map() -> None:
    assert (CHART / "dashboards" / "tritontts.json").read_text() == dashboard.render(), (
        "the committed dashboard differs from helm/dashboard.py's: run `make dashboard`")
    config_map = one(rendered("cpu"), "ConfigMap", f"{FULLNAME}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["tritontts.json"]) == dashboard.build()
    titles = {p["title"] for p in dashboard.build()["panels"]}
    assert {"Request rate", "tts latency p50 / p95 / p99 (worst replica)",
            "Queue time per request", "Compute time per request",
            "Average batch size (inferences / executions)", "Response cache hit ratio",
            "Refusals and failures", "Stream time to first audio", "GPU utilization",
            "GPU memory"} <= titles


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules = []
    for number, expr in enumerate(dashboard_exprs()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_metric_names_reads_names_not_labels_or_functions() -> None:
    assert metric_names('sum by (model) (rate(a_total{model=~"x|y"}[5m])) / clamp_min('
                        "sum(b_count), 0.001) + on (pod) c") == {"a_total", "b_count", "c"}


@pytest.mark.e2e
def test_dashboard_and_rules_name_only_metrics_a_real_server_exports(
        server: TritonServer, tmp_path: Path) -> None:
    # One request of each kind, so that summaries, the cache and the stream histogram report.
    with TTSClient(server.grpc_url) as client:
        client.synthesize("Metrics, please.")
        client.synthesize("Metrics, please.", cache=True)
        for _ in client.stream("Metrics, please."):
            pass
    import urllib.request

    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        exposition = response.read().decode()
    exported = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines()
                if line and not line.startswith("#")}
    assert not GPU_ONLY_METRICS & exported, "a CPU server reporting GPU metrics?"
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert used - exported - GPU_ONLY_METRICS == set()
    assert used & GPU_ONLY_METRICS == GPU_ONLY_METRICS, "the GPU panels are there"
    # The rules read Triton's metrics, their own records, and kube-state-metrics' series.
    spec = write_rules(tmp_path / "rules.yaml")
    records = {r["record"] for g in spec["groups"] for r in g["rules"] if "record" in r}
    kube_state = {"kube_deployment_status_replicas_available",
                  "kube_pod_container_status_restarts_total"}
    read = set().union(*(metric_names(r["expr"]) for g in spec["groups"] for r in g["rules"]))
    assert read - exported - GPU_ONLY_METRICS - records - kube_state == set()


# ---- the optional gateway and long-audio workers ------------------------------------------

def _pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def test_gateway_and_workers_call_this_releases_triton_and_select_only_their_pods() -> None:
    objects = rendered("gateway-worker")
    triton = one(objects, "Deployment", FULLNAME)
    gateway = one(objects, "Deployment", f"{FULLNAME}-gateway")
    worker = one(objects, "Deployment", f"{FULLNAME}-worker")
    pods = {name: d["spec"]["template"]["metadata"]["labels"]
            for name, d in (("triton", triton), ("gateway", gateway), ("worker", worker))}

    def selected(selector: dict) -> set[str]:
        return {name for name, labels in pods.items() if selector.items() <= labels.items()}

    # Every selector picks exactly its own pods: the Triton Service never routes to a gateway.
    assert selected(one(objects, "Service", FULLNAME)["spec"]["selector"]) == {"triton"}
    assert selected(one(objects, "Service", f"{FULLNAME}-gateway")["spec"]["selector"]) == {
        "gateway"}
    for name, deployment in (("triton", triton), ("gateway", gateway), ("worker", worker)):
        assert selected(deployment["spec"]["selector"]["matchLabels"]) == {name}
    grpc = f"--triton-url={FULLNAME}:{load_values('cpu').get('ports', {}).get('grpc', 8001)}"
    for deployment, command in ((gateway, "gateway"), (worker, "worker")):
        (container,) = _pod_spec(deployment)["containers"]
        assert container["command"] == ["tritontts", command]
        assert grpc in container["args"]
        assert container["image"].endswith("-cpu")  # the image's cpu target, any profile
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert _pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True
    (container,) = _pod_spec(gateway)["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "--jobs" in container["args"] and "--keys-file=/etc/tritontts/keys/keys.json" in (
        container["args"])


def test_triton_admits_the_gateway_and_workers_to_grpc_only() -> None:
    objects = rendered("gateway-worker")
    rules = one(objects, "NetworkPolicy", FULLNAME)["spec"]["ingress"]
    from_pods = [r for r in rules if any("podSelector" in peer for peer in r["from"])]
    (rule,) = from_pods
    components = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                  for peer in rule["from"]}
    assert components == {"gateway", "worker"}
    assert rule["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    gateway_rules = one(objects, "NetworkPolicy", f"{FULLNAME}-gateway")["spec"]["ingress"]
    (namespaces,) = [r["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"]
                     for r in gateway_rules]
    assert set(namespaces) == {"apps", "monitoring"}
    worker_policy = one(objects, "NetworkPolicy", f"{FULLNAME}-worker")["spec"]
    assert worker_policy["policyTypes"] == ["Ingress"] and "ingress" not in worker_policy


def test_gateway_scales_on_requests_in_flight_and_workers_on_the_queue() -> None:
    from tritontts_client.contract import JOBS_BROKER_NAMESPACE, JOBS_QUEUE

    objects = rendered("gateway-worker")
    values = load_values("gateway-worker")
    hpa = one(objects, "HorizontalPodAutoscaler", f"{FULLNAME}-gateway")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == "tritontts_gateway_in_flight"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "8"}
    assert "replicas" not in one(objects, "Deployment", f"{FULLNAME}-gateway")["spec"]
    scaled = one(objects, "ScaledObject", f"{FULLNAME}-worker")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    # The list KEDA counts is the one the jobs queue keeps.
    assert trigger["metadata"]["listName"] == f"{JOBS_BROKER_NAMESPACE}:{JOBS_QUEUE}"
    assert trigger["metadata"]["address"] == values["worker"]["autoscaling"]["redisAddress"]
    assert scaled["spec"]["minReplicaCount"] == 0  # no queue, no workers
    tolerations = _pod_spec(one(objects, "Deployment", f"{FULLNAME}-worker"))["tolerations"]
    assert any(t.get("value") == "spot" for t in tolerations)


def test_gateway_metrics_reach_prometheus_and_its_gauge_exists() -> None:
    objects = rendered("gateway-worker")
    monitor = one(objects, "ServiceMonitor", f"{FULLNAME}-gateway")
    service = one(objects, "Service", f"{FULLNAME}-gateway")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    assert monitor["spec"]["endpoints"][0] == {"port": "http", "path": "/metrics",
                                               "interval": "15s"}
    from tritontts.gateway.metrics import GatewayMetrics

    names = {m.name for m in GatewayMetrics().registry.collect()}
    assert "tritontts_gateway_in_flight" in names


@pytest.mark.parametrize(("values", "message"), [
    ({"worker": {"enabled": True}}, "worker.redisUrl"),
    ({"gateway": {"enabled": True, "jobs": True}}, "gateway.redisUrl"),
    ({"worker": {"enabled": True, "redisUrl": "redis://r:6379/0", "s3": {"bucket": "b"},
                 "autoscaling": {"enabled": True}}}, "redisAddress"),
])
def test_incomplete_gateway_or_worker_values_fail_with_a_message(values: dict,
                                                                  message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        helm.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE)
