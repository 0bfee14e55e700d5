"""deploy/kubernetes/: every manifest valid against the Kubernetes schemas (kubernetes-validate,
strict, the oldest and newest versions the manifests are for), their timings matched to the
server's shutdown, the HPA's metric the one the server exports and the adapter maps, and the
binary started as the Deployment and the Dockerfile start it: it answers the probes, exports
the metric, and exits cleanly within the grace period on SIGTERM while serving."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kv

from replicas import embed_bin, free_port, get, wait_until

DEPLOY = Path(__file__).resolve().parents[1]
KUBERNETES = DEPLOY / "kubernetes"
VERSIONS = ["1.30.0", "1.37.0"]


def manifests():
    return sorted(KUBERNETES.rglob("*.yaml"))


def resources():
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def find(kind: str, name: str):
    for _, doc in resources():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in {KUBERNETES}")


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_are_valid(version):
    checked = 0
    for path, doc in resources():
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as error:
            pytest.fail(f"{path.relative_to(DEPLOY)}: {doc['kind']} {doc['metadata']['name']}: {error.message}")
        checked += 1
    assert checked >= 15, f"only {checked} resources found"


def test_the_validator_rejects_a_wrong_manifest():
    deployment = find("Deployment", "embed")
    deployment = json.loads(json.dumps(deployment))
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, VERSIONS[-1], strict=True)


def container():
    return find("Deployment", "embed")["spec"]["template"]["spec"]["containers"][0]


def env_of(c) -> dict:
    return {e["name"]: e["value"] for e in c["env"]}


def init_container():
    return find("Deployment", "embed")["spec"]["template"]["spec"]["initContainers"][0]


def test_the_init_container_fetches_what_the_server_loads(tmp_path):
    """The init container names the server's model and caches, and `embed fetch` run as it runs
    exits 0 and prints where the model is; with the model already on the volume it needs no
    network (here: the test models)."""
    init, server = env_of(init_container()), env_of(container())
    for name in ("DEFAULT_MODEL", "MODEL_CACHE_DIR", "HF_HUB_CACHE", "EMBED_CACHE_DIR"):
        assert init[name] == server[name], name
    assert server["EMBED_OFFLINE"] == "1", "the server must not download: the init container fetched"
    entrypoint, image_env = dockerfile_command()
    assert init_container()["image"] == container()["image"]
    env = {**os.environ, **image_env, **init}
    env["MODEL_CACHE_DIR"] = os.environ["MODEL_CACHE_DIR"]
    env["HF_HUB_CACHE"] = str(tmp_path / "hub")
    env["EMBED_CACHE_DIR"] = str(tmp_path)
    # Nothing is missing, so nothing is asked of the network (an unreachable hub proves it).
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    done = subprocess.run([embed_bin(), *entrypoint[1:], *init_container()["args"]], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    name, folder = done.stdout.strip().split("\t")
    assert name == init["DEFAULT_MODEL"] + ":fp32" and Path(folder).is_dir(), done.stdout


def test_timings_match_the_servers_shutdown():
    spec = find("Deployment", "embed")["spec"]["template"]["spec"]
    c = container()
    env = env_of(c)
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    shutdown = float(env["SHUTDOWN_TIMEOUT"])
    # The pod leaves the endpoints during preStop, then the server drains for up to
    # SHUTDOWN_TIMEOUT; the kubelet's SIGKILL must come after both.
    assert spec["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + shutdown + 5
    # A request accepted just before SIGTERM ends (answered, or 504) before the drain deadline.
    assert float(env["REQUEST_TIMEOUT"]) <= shutdown
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health"
    assert c["args"][c["args"].index("--port") + 1] == str(c["ports"][0]["containerPort"])
    assert c["volumeMounts"][0]["mountPath"] == env["MODEL_CACHE_DIR"]


def test_the_hpa_scales_on_the_metric_the_adapter_maps():
    hpa = find("HorizontalPodAutoscaler", "embed")
    metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    adapter = yaml.safe_load(find("ConfigMap", "adapter-config")["data"]["config.yaml"])
    assert any(metric in rule["seriesQuery"] and rule["name"]["as"] == metric for rule in adapter["rules"])
    assert hpa["spec"]["scaleTargetRef"]["name"] == find("Deployment", "embed")["metadata"]["name"]


def dockerfile_command():
    """The image's ENTRYPOINT and ENV, read from the Dockerfile."""
    text = (DEPLOY / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    env = dict(re.findall(r"^ENV (\w+)=(\S+)$", text, re.M))
    return entrypoint, env


def metric_total(text: str, name: str) -> float:
    """The sum of a metric's series in Prometheus' text format."""
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def request_inside(port: int) -> bool:
    """Whether the server holds a request: inputs queued, or texts taken into a batch."""
    status, body = get(port, "/metrics")
    if status != 200:
        return False
    text = body.decode()
    return metric_total(text, "embed_server_queue_inputs") + metric_total(text, "embed_server_batch_texts_total") > 0


def test_the_binary_runs_as_the_deployment_starts_it(tmp_path):
    """The image cannot be built here (no container engine): this starts the binary with the
    image's entrypoint and environment and the Deployment's arguments and environment, with the
    address and the model cache moved to this machine, and checks what the manifests rely on."""
    entrypoint, image_env = dockerfile_command()
    assert Path(entrypoint[0]).name == "embed"
    c = container()
    port = free_port()
    args = list(c["args"])
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    env = {**os.environ, **image_env, **env_of(c)}
    env["MODEL_CACHE_DIR"] = os.environ["MODEL_CACHE_DIR"]
    env["HF_HUB_CACHE"] = str(tmp_path / "hub")
    env["EMBED_CACHE_DIR"] = str(tmp_path)
    assert env["EMBED_OFFLINE"] == "1"
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen([embed_bin(), *entrypoint[1:], *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: get(port, "/health")[0] == 200, "/health", 60, process)
        status, body = get(port, "/metrics")
        metric = find("HorizontalPodAutoscaler", "embed")["spec"]["metrics"][0]["pods"]["metric"]["name"]
        assert status == 200 and re.search(rf"^{metric} \d+$", body.decode(), re.M), body[:500]

        # SIGTERM while a request is running: it is answered, then the process exits 0 well
        # within the time the Deployment gives it.
        answer = {}

        def request():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/embed", body=json.dumps({"inputs": ["a long text " * 40] * 8}),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            answer["status"] = response.status
            answer["rows"] = len(json.loads(response.read()))

        thread = threading.Thread(target=request)
        thread.start()
        # The signal goes once the server holds the request: queued, or already in a batch.
        wait_until(lambda: request_inside(port), "the request inside the server", 30, process)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = process.wait(timeout=float(env_of(c)["SHUTDOWN_TIMEOUT"]) + 5)
        drained = time.monotonic() - started
        thread.join(timeout=30)
        assert code == 0, f"exit code {code}"
        # A request the server held at the signal is answered before it exits.
        assert answer == {"status": 200, "rows": 8}, answer
        grace = find("Deployment", "embed")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert drained < grace
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
