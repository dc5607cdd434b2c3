"""What ``train-zoo`` trains: the zoo's settings, its models, and the segments each model is trained in.

A model is trained in segments that end at its checkpoint fractions and at
every fifth of its steps (so no segment is more than 20 % of a run); after each
segment the driver saves the training state, so a stopped run goes on from the
last segment that finished.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from rsa_ray.datasets import MINI_TASKONOMY_TASKS, TargetKind, task_by_name
from rsa_ray.training import TrainingSettings

#: Tasks that also get the large (residual) encoder: two 3D and one of each other type.
DEFAULT_LARGE_TASKS: tuple[str, ...] = (
    "autoencoding", "depth", "surface_normals", "semantic_segmentation", "object_class", "camera_pose",
)  # fmt: skip
WEIGHT_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
SEGMENTS_PER_RUN = 5


@dataclass(frozen=True)
class ZooConfig:
    """What ``train-zoo`` trains and how.

    Attributes:
        out_dir: Folder for weights and ``manifest.yaml`` (created if missing).
        tasks: Task names, one small model each (with checkpoints at 10/25/50 %).
        large_tasks: Tasks that also get a large model (final weights only).
        n_train: Training scenes of the dense tasks.
        n_train_per_image: Training scenes of the per-image tasks (class, count, pose, vanishing directions):
            a label per image carries far less signal than a map per pixel, so these get more scenes.
        n_val: Validation scenes, after every training scene (same seed).
        image_size: Image side in pixels (a multiple of 16).
        dataset_seed: Seed of the rendered mini-Taskonomy.
        seed: Base seed of initialisation and batch order (each model derives its own).
        steps: Adam steps per model.
        batch_size: Images per step.
        learning_rate: Adam learning rate.
        class_steps: Adam steps of the per-image classification tasks (object class and count).
        class_learning_rate: Their learning rate. One label per image is a weak signal: at 3e-3 both stayed at
            the trivial baseline (0.998× after 1,500 steps), at 1e-3 they learn; a step of theirs costs a third of
            a dense task's, so they can take more of them.
        weights_dtype: Dtype of the saved weights (float16 halves the zoo's size).
        gpus_per_task: GPUs per Ray task (0 trains on CPU).

    Example:
        >>> ZooConfig(out_dir="zoo").first_val_index
        16000
    """

    out_dir: str
    tasks: tuple[str, ...] = tuple(task.name for task in MINI_TASKONOMY_TASKS)
    large_tasks: tuple[str, ...] = DEFAULT_LARGE_TASKS
    n_train: int = 2000
    n_train_per_image: int = 16000
    n_val: int = 500
    image_size: int = 64
    dataset_seed: int = 0
    seed: int = 0
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 3e-3
    class_steps: int = 6000
    class_learning_rate: float = 1e-3
    weights_dtype: str = "float16"
    gpus_per_task: float = 0.0

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("tasks must not be empty")
        for name in tuple(self.tasks) + tuple(self.large_tasks):
            task_by_name(name)  # raises ValueError naming the closest tasks
        missing = sorted(set(self.large_tasks) - set(self.tasks))
        if missing:
            raise ValueError(f"large_tasks {missing} are not among tasks {list(self.tasks)}")
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.weights_dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights_dtype must be one of {list(WEIGHT_DTYPES)}, got {self.weights_dtype!r}")
        if min(self.n_train, self.n_train_per_image, self.n_val) < 1:
            raise ValueError(f"n_train, n_train_per_image and n_val must be >= 1, got "
                             f"{self.n_train}, {self.n_train_per_image}, {self.n_val}")
        if self.steps < 1 or self.class_steps < 1:
            raise ValueError(f"steps and class_steps must be >= 1, got {self.steps} and {self.class_steps}")

    @property
    def first_val_index(self) -> int:
        """Index of the first validation scene: after every training scene of either split."""
        return max(self.n_train, self.n_train_per_image)

    def training_scenes(self, per_image: bool) -> int:
        """Training scenes of a dense (False) or per-image (True) task."""
        return self.n_train_per_image if per_image else self.n_train


def smoke_test_config(out_dir: str) -> ZooConfig:
    """A seconds-long zoo: 2 tasks (one dense, one per-image) × 10 steps on 32×32 images, one large model.

    Example:
        >>> smoke_test_config("/tmp/zoo").tasks
        ('depth', 'object_class')
    """
    return ZooConfig(out_dir=out_dir, tasks=("depth", "object_class"), large_tasks=("object_class",), n_train=24,
                     n_train_per_image=40, n_val=8, image_size=32, steps=10, class_steps=12, batch_size=8)


@dataclass(frozen=True)
class ZooJob:
    """One model to train.

    Attributes:
        model_id: Id of the final model, ``{task}-{variant}``.
        task: Task name.
        variant: ``"small"`` or ``"large"``.
        settings: Its optimisation settings (with its own seed).
        keep_checkpoints: Whether intermediate checkpoints are saved as models too.
        fingerprint: A digest of everything that decides this model's weights (settings, data, saved dtype):
            a saved state or a finished model is reused only under the same fingerprint.
    """

    model_id: str
    task: str
    variant: str
    settings: TrainingSettings
    keep_checkpoints: bool

    fingerprint: str = ""

    @property
    def per_image(self) -> bool:
        """Whether the task has one label per image (trained on the per-image split)."""
        return not task_by_name(self.task).target_kind.is_dense

    def segment_ends(self) -> tuple[int, ...]:
        """The steps after which this model's training state is saved: checkpoints and every fifth.

        Example:
            >>> job = plan_zoo(ZooConfig("zoo", steps=100))[0]
            >>> job.segment_ends()
            (10, 20, 25, 40, 50, 60, 80, 100)
        """
        steps = self.settings.steps
        fifths = {max(1, round(steps * k / SEGMENTS_PER_RUN)) for k in range(1, SEGMENTS_PER_RUN + 1)}
        return tuple(sorted(fifths | set(self.settings.checkpoint_steps())))

    def expected_cost(self) -> float:
        """Relative time of one step (measured: a dense small model ≈ 3× a per-image one, large ≈ 1.5× small)."""
        return (1.0 if self.per_image else 3.0) * (1.5 if self.variant == "large" else 1.0)


def _derived_seed(seed: int, model_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{model_id}".encode()).digest()[:4], "big")


def plan_zoo(config: ZooConfig) -> tuple[ZooJob, ...]:
    """The models to train: every task's small model, then the large ones.

    Example:
        >>> jobs = plan_zoo(smoke_test_config("/tmp/zoo"))
        >>> [(job.model_id, job.settings.steps) for job in jobs]
        [('depth-small', 10), ('object_class-small', 12), ('object_class-large', 12)]
    """
    device = "cuda" if config.gpus_per_task > 0 else "cpu"
    variants = [(task, "small", True) for task in config.tasks] + [(task, "large", False) for task in config.large_tasks]
    jobs = []
    for task, variant, keep in variants:
        model_id = f"{task}-{variant}"
        is_class = task_by_name(task).target_kind is TargetKind.CLASS
        settings = TrainingSettings(
            steps=config.class_steps if is_class else config.steps, batch_size=config.batch_size,
            learning_rate=config.class_learning_rate if is_class else config.learning_rate,
            variant=variant, seed=_derived_seed(config.seed, model_id), device=device,
        )
        per_image = not task_by_name(task).target_kind.is_dense
        decided_by = (replace(settings, device="any"), task, variant, keep, config.training_scenes(per_image), config.n_val,
                      config.first_val_index, config.image_size, config.dataset_seed, config.weights_dtype)
        fingerprint = hashlib.sha256(repr(decided_by).encode()).hexdigest()[:16]
        jobs.append(ZooJob(model_id, task, variant, settings, keep, fingerprint))
    return tuple(jobs)


def checkpoint_id(model_id: str, fraction: float) -> str:
    """Id of an intermediate checkpoint, e.g. ``depth-small-ckpt010`` for 10 %; the final model keeps ``model_id``.

    Example:
        >>> checkpoint_id("depth-small", 0.25), checkpoint_id("depth-small", 1.0)
        ('depth-small-ckpt025', 'depth-small')
    """
    return model_id if fraction == 1.0 else f"{model_id}-ckpt{round(fraction * 100):03d}"


__all__ = ["DEFAULT_LARGE_TASKS", "ZooConfig", "ZooJob", "checkpoint_id", "plan_zoo", "smoke_test_config"]
