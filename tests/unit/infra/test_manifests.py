"""The deployment files under infra/ are consistent with each other and with the rsa-ray command.

No Kubernetes, Docker or network here: these tests read the files. They check that every YAML parses,
that every command a manifest or the launcher runs is one the CLI accepts, that images are pinned to one
Ray version, that pods request what they use, that credentials are referenced and never inlined, and
that the Dockerfiles install exactly the lock file, which pins exactly pyproject's dependencies.
"""

from __future__ import annotations

import argparse
import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jobs.cli import build_parser
from jobs.config import read_config
from tests.unit.infra.infra_files import (
    INFRA,
    LAUNCHER,
    LAUNCHER_SETUP_KEYS,
    LAUNCHER_START_KEYS,
    LOCK_FILE,
    OUR_IMAGE,
    RAY_IMAGE,
    RAY_KINDS,
    Command,
    all_pod_groups,
    base_image,
    cluster_spec,
    copied_from,
    dockerfiles,
    documents,
    is_pinned,
    job_spec,
    k8s_commands,
    k8s_documents,
    launcher_commands,
    lock_requirements,
    parse_rsa_ray,
    pinned_version,
    pip_installs,
    pod_groups,
    pyproject_requirements,
    readme_commands,
    relative,
    requests_gpus,
    rsa_ray_argv,
    shortest_cron_interval_minutes,
    walk,
    yaml_files,
    yaml_images,
)

PARSER = build_parser()
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|ACCESS_KEY)", re.IGNORECASE)
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def lock_ray_version() -> str:
    (ray,) = [requirement for requirement in lock_requirements() if requirement.name == "ray"]
    return pinned_version(ray)


# --- every YAML parses ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=relative)
def test_every_yaml_file_parses(path):
    loaded = documents(path)
    assert loaded, f"{relative(path)} holds no YAML document"
    assert all(isinstance(document, dict) for document in loaded), f"{relative(path)}: a document is not a mapping"


def test_kubernetes_manifests_have_kind_and_name_and_cover_the_deployment():
    kinds = []
    for path, document in k8s_documents():
        for field in ("apiVersion", "kind"):
            assert document.get(field), f"{relative(path)}: a document without {field}"
        assert document.get("metadata", {}).get("name"), f"{relative(path)}: {document['kind']} without metadata.name"
        if document["kind"] in RAY_KINDS:
            assert document["apiVersion"] == "ray.io/v1", f"{relative(path)}: {document['kind']} must be ray.io/v1"
        kinds.append(document["kind"])
    for kind in (*RAY_KINDS, "ConfigMap"):
        assert kind in kinds, f"infra/k8s has no {kind}"


# --- every command is one the CLI accepts -----------------------------------------------------------

def collected(find) -> list:
    """``find()``, or one item that names why it failed: a file that does not parse must fail its own
    test (test_every_yaml_file_parses) and these, not stop the whole module at collection."""
    try:
        return find()
    except (yaml.YAMLError, OSError, KeyError, TypeError, ValueError, AssertionError) as error:  # reported by the tests
        return [Command("collecting commands", f"failed: {type(error).__name__}: {str(error).splitlines()[0]}")]


PROJECT_COMMANDS = collected(lambda: k8s_commands() + launcher_commands(LAUNCHER_SETUP_KEYS) + readme_commands())
LAUNCHER_START_COMMANDS = collected(lambda: launcher_commands(LAUNCHER_START_KEYS))


@pytest.mark.parametrize("command", PROJECT_COMMANDS, ids=str)
def test_every_command_is_an_rsa_ray_command_the_cli_accepts(command):
    parse_rsa_ray(command, PARSER)


def test_commands_were_found_where_expected():
    wheres = " ".join(command.where for command in PROJECT_COMMANDS)
    for expected in ("RayJob", "RayCronJob", "aws-gpu.yaml", "infra/README.md"):
        assert expected in wheres, f"no rsa-ray command found in {expected}"


def test_the_command_check_rejects_bad_commands():
    with pytest.raises(AssertionError, match="rejects"):
        parse_rsa_ray(Command("example", "rsa-ray taxonomy --no-such-flag"), PARSER)
    with pytest.raises(AssertionError, match="rejects"):
        parse_rsa_ray(Command("example", "rsa-ray submit --address http://h:8265 -- rerank --every"), PARSER)
    with pytest.raises(AssertionError, match="not an `rsa-ray"):
        parse_rsa_ray(Command("example", "python run.py"), PARSER)


@pytest.mark.parametrize("command", LAUNCHER_START_COMMANDS, ids=str)
def test_launcher_start_commands_start_or_stop_ray(command):
    assert command.line.split()[:2] in (["ray", "start"], ["ray", "stop"]), f"{command}: expected `ray start` or `ray stop`"


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (children,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return children.choices[name]


def _config_maps() -> dict[str, dict]:
    return {document["metadata"]["name"]: document.get("data", {}) for _, document in k8s_documents() if document["kind"] == "ConfigMap"}


def _mounted_file(group, path: str) -> str | None:
    """The ConfigMap text a pod has at ``path`` (a ConfigMap volume mounted on its folder)."""
    volumes = {volume["name"]: volume for volume in group.pod.get("volumes", [])}
    for container in group.containers:
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            prefix = mount["mountPath"].rstrip("/") + "/"
            if "configMap" in volume and path.startswith(prefix):
                return _config_maps().get(volume["configMap"]["name"], {}).get(path[len(prefix):])
    return None


def _head_of_job(path, document):
    """The head pod group of the cluster a RayJob / RayCronJob runs on (its own, or the selected one)."""
    if cluster_spec(document):
        return pod_groups(path, document)[0]
    wanted = job_spec(document)["clusterSelector"]["ray.io/cluster"]
    for other_path, other in k8s_documents():
        if other["kind"] == "RayCluster" and other["metadata"]["name"] == wanted:
            return pod_groups(other_path, other)[0]
    raise AssertionError(f"{relative(path)}: clusterSelector names RayCluster {wanted!r}, which infra/k8s does not define")


@pytest.mark.parametrize(("kind", "subcommand"), [("RayJob", "taxonomy"), ("RayCronJob", "rerank")])
def test_jobs_run_on_the_s3_store_named_in_the_configmap(kind, subcommand, tmp_path):
    """The entrypoint's --config file is a ConfigMap key mounted on the head, and gives an s3:// store."""
    jobs = [(path, document) for path, document in k8s_documents() if document["kind"] == kind]
    assert jobs, f"infra/k8s has no {kind}"
    for path, document in jobs:
        command = Command(relative(path), job_spec(document)["entrypoint"])
        args = parse_rsa_ray(command, PARSER)
        assert args.subcommand == subcommand, f"{command}: expected `rsa-ray {subcommand} ...`"
        assert args.config, f"{command}: the store must come from the ConfigMap (--config FILE mounted from it)"
        text = _mounted_file(_head_of_job(path, document), args.config)
        assert text is not None, f"{command}: {args.config} is not a ConfigMap key mounted on the head"
        config_file = tmp_path / "config.yaml"
        config_file.write_text(text)
        parser = build_parser()  # a fresh one: the config's values become its defaults, as `rsa-ray --config` does
        child = subcommand_parser(parser, subcommand)
        child.set_defaults(**read_config(config_file, child))  # raises on a key that is no flag
        merged = parser.parse_args(rsa_ray_argv(command))
        assert merged.store.startswith("s3://"), f"{command}: store {merged.store!r} is not an s3:// URL"
        if subcommand == "rerank":
            assert merged.models_from and merged.models_from.startswith("s3://"), f"{command}: rerank needs --models-from s3://..."


def test_every_configmap_reference_exists():
    config_maps = _config_maps()
    for path, document in k8s_documents():
        for trail, key, value in walk(document):
            if key == "configMapKeyRef":
                assert value["key"] in config_maps.get(value["name"], {}), f"{relative(path)}: ConfigMap {value['name']} has no key {value['key']}"
            if key == "configMap" and isinstance(value, dict):
                assert value["name"] in config_maps, f"{relative(path)}: ConfigMap {value['name']} is not defined in infra/k8s"


# --- images: pinned, one Ray version ----------------------------------------------------------------


def test_every_image_is_pinned_to_one_ray_version():
    ray_version = lock_ray_version()
    images = yaml_images() + [(relative(path), base_image(path)) for path in dockerfiles()]
    assert len(images) > 5, "too few images found; did the manifests move?"
    for where, image in images:
        assert is_pinned(image), f"{where}: image {image!r} is not pinned to a tag (not latest) or a digest"
        match = OUR_IMAGE.match(image) or RAY_IMAGE.match(image)
        assert match, f"{where}: {image!r} is neither rayproject/ray:X.Y.Z-pyNNN-FLAVOR nor <registry>/rsa-ray:V-rayX.Y.Z-FLAVOR"
        assert match["ray"] == ray_version, f"{where}: {image!r} has Ray {match['ray']}, the lock file pins {ray_version}"
    for path, document in k8s_documents():
        cluster = cluster_spec(document)
        if cluster:
            assert cluster.get("rayVersion") == ray_version, f"{relative(path)}: rayVersion {cluster.get('rayVersion')!r}, expected {ray_version}"


def test_our_images_are_built_by_the_dockerfiles_of_their_flavor():
    flavors = {RAY_IMAGE.match(base_image(path))["flavor"]: path for path in dockerfiles()}
    assert "cpu" in flavors and any(flavor.startswith("cu") for flavor in flavors), f"need a CPU and a CUDA Dockerfile, found {flavors}"
    project_version = tomllib.loads((INFRA.parent / "pyproject.toml").read_text())["project"]["version"]
    for where, image in yaml_images():
        match = OUR_IMAGE.match(image)
        if match:
            assert match["flavor"] in flavors, f"{where}: no Dockerfile builds the {match['flavor']!r} flavor of {image}"
            assert match["version"] == project_version, f"{where}: {image} is not tagged with the project version {project_version}"


def test_gpu_pods_run_the_cuda_image_and_cpu_pods_the_cpu_image():
    for group in all_pod_groups():
        for container in group.containers:
            match = OUR_IMAGE.match(container["image"])
            assert match, f"{group.where} {group.name}: runs {container['image']}, not the rsa-ray image"
            wants_cuda = requests_gpus(container)
            assert match["flavor"].startswith("cu") == wants_cuda, (
                f"{group.where} {group.name}: image flavor {match['flavor']} but nvidia.com/gpu requested: {wants_cuda}"
            )
    launcher = documents(LAUNCHER)[0]
    gpu_types = [node for node in launcher["available_node_types"].values() if "docker" in node]
    assert gpu_types, "the launcher config has no GPU node type with its own image"
    for node in gpu_types:
        assert OUR_IMAGE.match(node["docker"]["worker_image"])["flavor"].startswith("cu")
        assert any("--gpus" in option for option in node["docker"].get("worker_run_options", [])), "GPU workers need `--gpus all`"
    assert launcher["head_node_type"] in launcher["available_node_types"]


# --- resources ---------------------------------------------------------------------------------------


def test_every_container_requests_and_limits_cpu_and_memory():
    groups = all_pod_groups()
    assert groups
    for group in groups:
        assert group.containers, f"{group.where} {group.name}: no containers"
        for container in group.containers:
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(part, {}), f"{group.where} {group.name}: no {part}.{resource}"


def test_every_ray_cluster_has_a_head_a_cpu_group_and_a_gpu_group():
    clusters = [(path, document) for path, document in k8s_documents() if cluster_spec(document)]
    assert clusters
    for path, document in clusters:
        workers = [group for group in pod_groups(path, document) if group.name not in ("head", "submitter")]
        gpu = [group for group in workers if any(requests_gpus(container) for container in group.containers)]
        assert gpu, f"{relative(path)}: no worker group requests nvidia.com/gpu"
        assert len(gpu) < len(workers), f"{relative(path)}: no CPU-only worker group"
        for group in gpu:
            for container in group.containers:
                requests, limits = container["resources"]["requests"], container["resources"]["limits"]
                assert limits.get("nvidia.com/gpu") == requests.get("nvidia.com/gpu"), f"{group.where} {group.name}: GPU requests must equal limits"
                assert int(limits["nvidia.com/gpu"]) >= 1


# --- secrets are referenced, never inlined ------------------------------------------------------------


def test_no_secret_value_is_inlined_in_a_manifest():
    for path, document in k8s_documents():
        assert document["kind"] != "Secret", f"{relative(path)}: a Secret manifest puts credentials in the repository; create it out of band"
        for trail, key, value in walk(document):
            if isinstance(value, dict) and isinstance(value.get("name"), str) and SECRET_NAME.search(value["name"]) and ("value" in value or "valueFrom" in value):
                assert "value" not in value, f"{relative(path)}: {value['name']} has an inline value; use valueFrom.secretKeyRef"
                assert "secretKeyRef" in value["valueFrom"], f"{relative(path)}: {value['name']} must come from a secretKeyRef"


def test_every_ray_pod_gets_credentials_from_a_secret():
    for group in all_pod_groups():
        if group.name == "submitter":  # only submits the job; never touches the store
            continue
        for container in group.containers:
            from_secret = {entry["name"] for entry in container.get("env", []) if "secretKeyRef" in entry.get("valueFrom", {})}
            whole_secret = any("secretRef" in source for source in container.get("envFrom", []))
            assert whole_secret or set(CREDENTIALS) <= from_secret, f"{group.where} {group.name}: AWS credentials not from a Secret"


def test_no_credential_literal_anywhere_under_infra():
    access_key_id = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
    secret_assignment = re.compile(r"AWS_SECRET_ACCESS_KEY\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}\b")
    for path in sorted(INFRA.rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not access_key_id.search(text), f"{relative(path)}: holds what looks like an AWS access key id"
            assert not secret_assignment.search(text), f"{relative(path)}: holds what looks like an AWS secret key"


# --- the lock file and the Dockerfiles -----------------------------------------------------------------


def test_lock_file_pins_exactly_pyprojects_dependencies():
    lock = {canonicalize_name(requirement.name): requirement for requirement in lock_requirements()}
    project = {canonicalize_name(requirement.name): requirement for requirement in pyproject_requirements()}
    assert set(lock) == set(project), f"lock file and pyproject differ: only in lock {set(lock) - set(project)}, only in pyproject {set(project) - set(lock)}"
    for name, requirement in lock.items():
        version = pinned_version(requirement)
        assert version, f"{relative(LOCK_FILE)}: {requirement} is not pinned with =="
        assert requirement.extras == project[name].extras, f"{relative(LOCK_FILE)}: {name} extras {requirement.extras} != pyproject's {project[name].extras}"
        assert project[name].specifier.contains(version, prereleases=True), f"{relative(LOCK_FILE)}: {name}=={version} is outside pyproject's {project[name].specifier}"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=relative)
def test_dockerfile_installs_exactly_the_lock_file(dockerfile):
    lock = {canonicalize_name(requirement.name): pinned_version(requirement) for requirement in lock_requirements()}
    installs = pip_installs(dockerfile)
    assert installs, f"{relative(dockerfile)}: no pip install"
    installed: dict[str, str | None] = {}
    for install in installs:
        for requirement_file in install.requirement_files:
            source = copied_from(dockerfile, requirement_file)
            assert source == relative(LOCK_FILE), f"{relative(dockerfile)}: installs -r {requirement_file}, which is not infra/requirements.lock.txt"
            installed.update(lock)
        for text in install.requirements:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            assert pinned_version(requirement) == lock.get(name), f"{relative(dockerfile)}: installs {text}; the lock file has {name}=={lock.get(name)}"
            installed[name] = pinned_version(requirement)
        for local in install.local_paths:
            assert "--no-deps" in install.options, f"{relative(dockerfile)}: installs {local} with its dependencies unpinned; use --no-deps"
    assert set(installed) == set(lock), f"{relative(dockerfile)}: installs {sorted(installed)}, the lock file has {sorted(lock)}"
    assert any(install.local_paths for install in installs), f"{relative(dockerfile)}: never installs the project itself"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=relative)
def test_torch_comes_from_the_wheel_index_of_the_image_flavor(dockerfile):
    flavor = RAY_IMAGE.match(base_image(dockerfile))["flavor"]
    torch_installs = [install for install in pip_installs(dockerfile) if any(text.startswith("torch") for text in install.requirements)]
    assert len(torch_installs) == 1, f"{relative(dockerfile)}: torch must be installed once, on its own, from its wheel index"
    index = torch_installs[0].option("--index-url")
    assert index and index.rstrip("/").endswith(f"/whl/{flavor}"), f"{relative(dockerfile)}: torch from {index!r}, expected the /whl/{flavor} index"
    first_lock_install = next(i for i, install in enumerate(pip_installs(dockerfile)) if install.requirement_files)
    assert pip_installs(dockerfile).index(torch_installs[0]) < first_lock_install, f"{relative(dockerfile)}: install torch before the lock file, or pip picks PyPI's build"


# --- the scheduled rerank never overlaps itself -----------------------------------------------------------


def test_rerank_runs_cannot_overlap():
    crons = [(path, document) for path, document in k8s_documents() if document["kind"] == "RayCronJob"]
    assert crons
    for path, document in crons:
        spec, job = document["spec"], job_spec(document)
        assert spec.get("concurrencyPolicy", "Forbid") == "Forbid", f"{relative(path)}: concurrencyPolicy must be Forbid"
        assert job.get("shutdownAfterJobFinishes") is True, f"{relative(path)}: each run's cluster must be deleted when it ends"
        deadline = job.get("activeDeadlineSeconds")
        assert deadline, f"{relative(path)}: RayCronJob (KubeRay 1.6) has no concurrencyPolicy; bound each run with activeDeadlineSeconds"
        busy = deadline + job.get("ttlSecondsAfterFinished", 0)
        interval = shortest_cron_interval_minutes(spec["schedule"]) * 60
        assert busy < interval, f"{relative(path)}: a run may last {busy}s but runs start every {interval}s"


def test_cron_interval_helper():
    assert shortest_cron_interval_minutes("0 * * * *") == 60
    assert shortest_cron_interval_minutes("*/10 * * * *") == 10
    assert shortest_cron_interval_minutes("0 3,5 * * *") == 120
    assert shortest_cron_interval_minutes("30 2 * * 1") == 7 * 24 * 60
