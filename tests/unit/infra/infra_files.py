"""Reading the deployment files under infra/: YAML documents, pod specs, commands, images, Dockerfile installs.

Plain functions over parsed files, so that each test in test_manifests.py states one property.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import itertools
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
LAUNCHER = INFRA / "ray-cluster" / "aws-gpu.yaml"
DOCKER = INFRA / "docker"
LOCK_FILE = INFRA / "requirements.lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
README = INFRA / "README.md"

RAY_KINDS = ("RayCluster", "RayJob", "RayCronJob")


def yaml_files(folder: Path = INFRA) -> list[Path]:
    return sorted(path for pattern in ("*.yaml", "*.yml") for path in folder.rglob(pattern))


def documents(path: Path) -> list[dict]:
    """The non-empty YAML documents of one file."""
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def k8s_documents() -> list[tuple[Path, dict]]:
    return [(path, document) for path in yaml_files(K8S) for document in documents(path)]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def walk(node, trail: tuple = ()) -> Iterator[tuple[tuple, object, object]]:
    """Every (trail, key, value) of nested mappings and lists; list items have their index as key."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield trail, key, value
        yield from walk(value, trail + (key,))


# --- Ray clusters and their pods -------------------------------------------------------------------


def job_spec(document: dict) -> dict | None:
    """The RayJob spec of a RayJob, or the job template of a RayCronJob."""
    if document.get("kind") == "RayJob":
        return document["spec"]
    if document.get("kind") == "RayCronJob":
        return document["spec"]["jobTemplate"]
    return None


def cluster_spec(document: dict) -> dict | None:
    """The RayCluster spec a document defines (itself, or the one its job creates)."""
    if document.get("kind") == "RayCluster":
        return document["spec"]
    job = job_spec(document)
    return job.get("rayClusterSpec") if job else None


@dataclass(frozen=True)
class PodGroup:
    """One pod template of a Ray cluster: ``head``, a worker group, or a job's submitter."""

    where: str
    name: str
    pod: dict

    @property
    def containers(self) -> list[dict]:
        return self.pod.get("containers", [])


def pod_groups(path: Path, document: dict) -> list[PodGroup]:
    where = f"{relative(path)}: {document['kind']} {document['metadata']['name']}"
    groups = []
    cluster = cluster_spec(document)
    if cluster:
        groups.append(PodGroup(where, "head", cluster["headGroupSpec"]["template"]["spec"]))
        groups += [PodGroup(where, group["groupName"], group["template"]["spec"]) for group in cluster.get("workerGroupSpecs", [])]
    job = job_spec(document)
    if job and "submitterPodTemplate" in job:
        groups.append(PodGroup(where, "submitter", job["submitterPodTemplate"]["spec"]))
    return groups


def all_pod_groups() -> list[PodGroup]:
    return [group for path, document in k8s_documents() for group in pod_groups(path, document)]


def requests_gpus(container: dict) -> bool:
    resources = container.get("resources", {})
    return any("nvidia.com/gpu" in resources.get(part, {}) for part in ("requests", "limits"))


# --- commands --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command line found in a deployment file, and where."""

    where: str
    line: str

    def __str__(self) -> str:
        return f"{self.where}: {self.line}"


def k8s_commands() -> list[Command]:
    """Every job entrypoint and every container command in the Kubernetes manifests."""
    commands = []
    for path, document in k8s_documents():
        where = f"{relative(path)} ({document['kind']} {document['metadata']['name']})"
        job = job_spec(document)
        if job is not None:
            commands.append(Command(where, job.get("entrypoint", "")))
        for group in pod_groups(path, document):
            for container in group.containers:
                if "command" in container or "args" in container:
                    argv = list(container.get("command", [])) + list(container.get("args", []))
                    commands.append(Command(f"{where} container {container['name']}", shlex.join(argv)))
    return commands


LAUNCHER_SETUP_KEYS = ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands")
LAUNCHER_START_KEYS = ("head_start_ray_commands", "worker_start_ray_commands")


def launcher_commands(keys: tuple[str, ...]) -> list[Command]:
    """The launcher config's commands under ``keys``, at the top level and in any node type."""
    config = documents(LAUNCHER)[0]
    commands = []
    for trail, key, value in walk(config):
        if key in keys:
            commands += [Command(f"{relative(LAUNCHER)} {'.'.join(map(str, trail + (key,)))}", line) for line in value or []]
    return commands


def readme_commands() -> list[Command]:
    """Every ``rsa-ray ...`` line in infra/README.md's code blocks (continuation lines joined)."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith(("rsa-ray ", "python -m jobs.cli ")):
                commands.append(Command(relative(README), line))
    return commands


def rsa_ray_argv(command: Command) -> list[str]:
    """The arguments after ``rsa-ray`` / ``python -m jobs.cli``.

    Raises:
        AssertionError: The line is not an rsa-ray command.
    """
    tokens = shlex.split(command.line)
    if tokens[:1] == ["rsa-ray"]:
        return tokens[1:]
    if tokens[:3] == ["python", "-m", "jobs.cli"]:
        return tokens[3:]
    raise AssertionError(f"{command}: not an `rsa-ray ...` or `python -m jobs.cli ...` command")


def parse_rsa_ray(command: Command, parser: argparse.ArgumentParser) -> argparse.Namespace | None:
    """Parses the command as ``rsa-ray`` would; for ``submit``, the submitted command too.

    Returns:
        The namespace, or None for ``--help`` / ``--version`` (argparse exits 0 on those).

    Raises:
        AssertionError: The CLI rejects the arguments (with argparse's message, the file and the line).
    """
    argv = rsa_ray_argv(command)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(argv)
    except SystemExit as exit_:
        if exit_.code in (0, None):
            return None
        message = stderr.getvalue().strip().splitlines()[-1:] or [f"exit {exit_.code}"]
        raise AssertionError(f"{command}: rsa-ray rejects it: {message[0]}") from None
    if args.subcommand is None:
        raise AssertionError(f"{command}: names no rsa-ray subcommand")
    if args.subcommand == "submit":
        submitted = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not submitted:
            raise AssertionError(f"{command}: submit without a command to run")
        parse_rsa_ray(Command(command.where, shlex.join(["rsa-ray", *submitted])), parser)
    return args


# --- images ----------------------------------------------------------------------------------------

IMAGE_KEYS = ("image", "head_image", "worker_image")
OUR_IMAGE = re.compile(r"^(?P<repo>[^@]+/rsa-ray):(?P<version>[^-]+)-ray(?P<ray>\d+\.\d+\.\d+)-(?P<flavor>[a-z0-9]+)$")
RAY_IMAGE = re.compile(r"^rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py\d+-(?P<flavor>[a-z0-9]+)$")


def yaml_images() -> list[tuple[str, str]]:
    """(where, image) for every image named in a YAML file under infra/."""
    found = []
    for path in yaml_files():
        for document in documents(path):
            for trail, key, value in walk(document):
                if key in IMAGE_KEYS and isinstance(value, str):
                    found.append((f"{relative(path)} {'.'.join(map(str, trail + (key,)))}", value))
    return found


def dockerfiles() -> list[Path]:
    return sorted(path for path in DOCKER.glob("Dockerfile.*") if path.suffix != ".dockerignore")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\s*\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "") for line in joined.splitlines() if line.strip()]


def base_image(path: Path) -> str:
    froms = [arguments.split()[0] for instruction, arguments in dockerfile_instructions(path) if instruction == "FROM"]
    assert len(froms) == 1, f"{relative(path)}: expected one FROM, found {froms}"
    return froms[0]


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None when untagged), ignoring a registry port."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def is_pinned(image: str) -> bool:
    tag = image_tag(image)
    return "@sha256:" in image or (tag is not None and tag != "latest" and not tag.startswith("latest-"))


# --- dependencies ----------------------------------------------------------------------------------


def lock_requirements() -> list[Requirement]:
    lines = [line.strip() for line in LOCK_FILE.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def pyproject_requirements() -> list[Requirement]:
    return [Requirement(text) for text in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]]


def pinned_version(requirement: Requirement) -> str | None:
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version:
        return specifiers[0].version
    return None


@dataclass(frozen=True)
class PipInstall:
    """One ``pip install`` in a Dockerfile RUN."""

    options: tuple[str, ...]
    requirement_files: tuple[str, ...]
    requirements: tuple[str, ...]
    local_paths: tuple[str, ...]

    def option(self, name: str) -> str | None:
        for index, token in enumerate(self.options):
            if token == name and index + 1 < len(self.options):
                return self.options[index + 1]
            if token.startswith(name + "="):
                return token.split("=", 1)[1]
        return None


OPTIONS_WITH_VALUE = {"--index-url", "-i", "--extra-index-url", "-c", "--constraint", "-f", "--find-links", "--target", "-t", "--prefix", "--root"}


def pip_installs(path: Path) -> list[PipInstall]:
    installs = []
    for instruction, arguments in dockerfile_instructions(path):
        if instruction != "RUN":
            continue
        for part in re.split(r"&&|;|\|\|", arguments):
            tokens = shlex.split(part)
            for start in range(len(tokens) - 1):
                if tokens[start].endswith("pip") and tokens[start + 1] == "install":
                    installs.append(_pip_install(tokens[start + 2:]))
                    break
                if tokens[start:start + 3] == ["-m", "pip", "install"]:
                    installs.append(_pip_install(tokens[start + 3:]))
                    break
    return installs


def _pip_install(tokens: list[str]) -> PipInstall:
    options, files, requirements, paths = [], [], [], []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in ("-r", "--requirement"):
            files.append(tokens[index + 1])
            index += 2
            continue
        if token in OPTIONS_WITH_VALUE:
            options += tokens[index:index + 2]
            index += 2
            continue
        if token.startswith("-"):
            options.append(token)
        elif token.startswith((".", "/")):
            paths.append(token)
        else:
            requirements.append(token)
        index += 1
    return PipInstall(tuple(options), tuple(files), tuple(requirements), tuple(paths))


def copied_from(path: Path, destination: str) -> str | None:
    """The build-context source that a Dockerfile COPY puts at ``destination``."""
    for instruction, arguments in dockerfile_instructions(path):
        if instruction == "COPY":
            tokens = [token for token in shlex.split(arguments) if not token.startswith("--")]
            if tokens[-1] == destination and len(tokens) == 2:
                return tokens[0]
    return None


# --- cron ------------------------------------------------------------------------------------------


def _cron_field(field: str, low: int, high: int) -> set[int]:
    values = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            start, stop = (int(number) for number in base.split("-"))
        else:
            start = stop = int(base)
            if step:
                stop = high
        values.update(range(start, stop + 1, int(step) if step else 1))
    return values


def shortest_cron_interval_minutes(schedule: str) -> int:
    """The shortest gap between two runs of a 5-field cron schedule, found over four weeks of minutes.

    Example:
        >>> shortest_cron_interval_minutes("0 * * * *")
        60
    """
    minute, hour, day, month, weekday = schedule.split()
    minutes, hours = _cron_field(minute, 0, 59), _cron_field(hour, 0, 23)
    days, months = _cron_field(day, 1, 31), _cron_field(month, 1, 12)
    weekdays = {value % 7 for value in _cron_field(weekday, 0, 7)}
    start = datetime.datetime(2025, 1, 1)
    runs = []
    for offset in range(28 * 24 * 60):
        moment = start + datetime.timedelta(minutes=offset)
        day_ok = moment.day in days
        weekday_ok = (moment.isoweekday() % 7) in weekdays
        day_match = (day_ok or weekday_ok) if (day != "*" and weekday != "*") else (day_ok and weekday_ok)
        if moment.minute in minutes and moment.hour in hours and moment.month in months and day_match:
            runs.append(offset)
    assert len(runs) >= 2, f"schedule {schedule!r} runs fewer than twice in four weeks"
    return min(later - earlier for earlier, later in itertools.pairwise(runs))
