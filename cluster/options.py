"""Options of the stages: extraction on encoder actors, RDMs and similarity; the precision a run states."""

from __future__ import annotations

from dataclasses import dataclass

from rsa_ray.backends.select import BACKENDS, BackendChoice
from rsa_ray.names import PRECISIONS, check_reduction, forward_dtype
from rsa_ray.rdm import DISTANCES
from rsa_ray.similarity import METHODS
from storage.identity import ComputeSettings

# Where narrow layers' RDMs are computed (ExtractionOptions.rdms_on_actor).
RDMS_ON_ACTOR: tuple[str, ...] = ("auto", "always", "never")


@dataclass(frozen=True)
class SimilarityOptions:
    """How RDMs and the similarity matrix are computed.

    Attributes:
        method: Similarity between RDMs: ``spearman`` (the paper's), ``pearson`` or ``kendall_tau_a``.
        distance: RDM distance: ``correlation``, ``cosine`` or ``euclidean``.
        center_features: Centre each feature over the probe images first (correlation only).
        tile_memory_bytes: Memory one similarity task may hold: its blocks of vector
            segments and its product (:func:`cluster.plan.task_bytes`); sets the models
            per tile side and the segment length (:func:`cluster.plan.similarity_work`).
        block_size: Models per tile side; overrides the choice from ``tile_memory_bytes``.
        backend: Where RDMs, ranks and products are computed: ``numpy``, ``torch`` (on the GPUs where the
            cluster has them, else on the CPU), or ``auto`` (torch where the cluster has GPUs, else numpy);
            results agree within the tolerances of :mod:`rsa_ray.backends`.
        gpus_per_task: GPU share one RDM or similarity task asks for when the backend runs on GPUs.

    Example:
        >>> SimilarityOptions(method="pearson").distance
        'correlation'
    """

    method: str = "spearman"
    distance: str = "correlation"
    center_features: bool = True
    tile_memory_bytes: int = 2**30
    block_size: int | None = None
    backend: str = "auto"
    gpus_per_task: float = 0.25

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if not 0 < self.gpus_per_task <= 1:
            raise ValueError(f"gpus_per_task must be in (0, 1], got {self.gpus_per_task}")
        if self.method not in METHODS:
            raise ValueError(f"unknown similarity method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown distance {self.distance!r}; valid: {', '.join(DISTANCES)}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.tile_memory_bytes < 1:
            raise ValueError(f"tile_memory_bytes must be positive, got {self.tile_memory_bytes}")


def resolve_backend(options: SimilarityOptions, cluster_gpus: float) -> BackendChoice:
    """The backend the tasks of a run use, decided once by the driver from the cluster's resources.

    ``auto`` is torch on the GPUs where the cluster has any, else numpy; ``torch`` without
    GPUs runs torch on the CPU (for tests and comparisons).

    Example:
        >>> resolve_backend(SimilarityOptions(), cluster_gpus=0)
        BackendChoice(name='numpy', device='cpu')
        >>> resolve_backend(SimilarityOptions(), cluster_gpus=8)
        BackendChoice(name='torch', device='cuda')
    """
    if options.backend == "numpy" or (options.backend == "auto" and cluster_gpus <= 0):
        return BackendChoice("numpy")
    return BackendChoice("torch", "cuda" if cluster_gpus > 0 else "cpu")


@dataclass(frozen=True)
class ExtractionOptions:
    """How encoder actors run models.

    Attributes:
        dtype: Forward-pass precision, as entry identities record it: ``float32`` (``fp32``, the default:
            strict float32), ``tf32`` (float32 storage, TF32 matmuls and convolutions on CUDA; the same
            as ``float32`` on the CPU), ``bfloat16`` (``bf16``) or ``float16`` (``fp16``) autocast. The
            flag names are accepted and stored as these.
        batch_size: Probe images per forward pass, and rows per stored chunk.
        gpus_per_actor: GPU share of one actor where the cluster has GPUs.
        n_actors: Pool size; default from the cluster's GPUs (or CPUs without GPUs).
        activation_dtype: Stored activations: ``float32`` or ``float16``.
        reduce: One reduction for every layer (``--reduce``), overriding each layer's own from the
            manifest; None keeps them (:mod:`rsa_ray.models.reductions`).
        wide_layer_mb: A layer whose activations over the probe set (M × D × 4 bytes) exceed this
            many MiB gets its RDM on the actor and is not stored whole (:mod:`cluster.wide_layers`);
            None stores every layer's activations.
        rdms_on_actor: Where narrow layers' RDMs and rank vectors are computed: ``auto`` (on the actor,
            on its GPU, where the actors have GPUs; else by the RDM stage from stored activations),
            ``always`` (on the actor, on whatever device it has: torch on the CPU without a GPU) or
            ``never`` (the RDM stage). The values are the same either way (:mod:`cluster.device_extract`).
        keep_activations: Where RDMs are computed on the actor, also store every layer's full
            activations (otherwise only its pooled features, RDM and rank vector are stored). The RDM
            stage's path always stores them.

    Example:
        >>> ExtractionOptions(dtype="bf16").dtype, ExtractionOptions().rdms_on_actor
        ('bfloat16', 'auto')
    """

    dtype: str = "float32"
    batch_size: int = 64
    gpus_per_actor: float = 1.0
    n_actors: int | None = None
    activation_dtype: str = "float32"
    reduce: str | None = None
    wide_layer_mb: float | None = 512.0
    rdms_on_actor: str = "auto"
    keep_activations: bool = False

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "dtype", forward_dtype(self.dtype))
        except ValueError:
            raise ValueError(f"dtype must be one of {', '.join(PRECISIONS)} (or float32, bfloat16, float16), "
                             f"got {self.dtype!r}") from None
        if self.rdms_on_actor not in RDMS_ON_ACTOR:
            raise ValueError(f"rdms_on_actor must be one of {', '.join(RDMS_ON_ACTOR)}, got {self.rdms_on_actor!r}")
        if self.wide_layer_mb is not None and not self.wide_layer_mb > 0:
            raise ValueError(f"wide_layer_mb must be > 0 or None, got {self.wide_layer_mb}")
        if self.reduce is not None:
            check_reduction(self.reduce)
        if self.activation_dtype not in ("float32", "float16"):
            raise ValueError(f"activation_dtype must be float32 or float16, got {self.activation_dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.gpus_per_actor <= 1 and self.gpus_per_actor != int(self.gpus_per_actor):
            raise ValueError(f"gpus_per_actor must be a fraction in (0, 1] or a whole number, got {self.gpus_per_actor}")
        if self.n_actors is not None and self.n_actors < 1:
            raise ValueError(f"n_actors must be >= 1, got {self.n_actors}")

    def settings(self, distance: str = "correlation", center_features: bool = True) -> ComputeSettings:
        """The settings that shape what a run with these options computes (part of every entry's identity).

        The one place a run's :class:`storage.identity.ComputeSettings` is built: these options give the
        forward and stored dtypes and the reduction; ``distance`` and ``center_features`` are the RDM's
        (:class:`SimilarityOptions`; the defaults are its own).

        Example:
            >>> ExtractionOptions(dtype="bfloat16").settings().forward_dtype
            'bfloat16'
            >>> ExtractionOptions().settings("cosine", center_features=False).distance
            'cosine'
        """
        return ComputeSettings(forward_dtype=self.dtype, activation_dtype=self.activation_dtype, distance=distance,
                               center_features=center_features, reduce=self.reduce)

    def computes_rdms_on_actor(self, actors_have_gpus: bool) -> bool:
        """Whether encoder actors compute their models' RDMs (``rdms_on_actor``; ``auto`` is decided by the GPUs).

        Example:
            >>> ExtractionOptions().computes_rdms_on_actor(False), ExtractionOptions().computes_rdms_on_actor(True)
            (False, True)
            >>> ExtractionOptions(rdms_on_actor="always").computes_rdms_on_actor(False)
            True
        """
        return self.rdms_on_actor == "always" or (self.rdms_on_actor == "auto" and actors_have_gpus)


_PRECISION_WORDS = {
    "float32": "strict float32 forward passes",
    "bfloat16": "bfloat16 autocast forward passes",
    "float16": "float16 autocast forward passes",
}


def describe_precision(dtype: str, on_gpus: bool, activation_dtype: str = "float32") -> str:
    """The precision a run used, in one line for its summary and report.

    ``tf32`` on the CPU says it ran as fp32: TF32 exists only on CUDA, so it was not exercised.

    Args:
        dtype: The forward dtype or precision flag (``fp32``, ``tf32``, ``bf16``, ``fp16`` or the stored names).
        on_gpus: Whether the encoders ran on GPUs.
        activation_dtype: The stored activations' dtype.

    Example:
        >>> describe_precision("bf16", on_gpus=False)
        'bf16 (bfloat16 autocast forward passes, on the CPU); activations float32, RDMs and rank vectors float64'
        >>> describe_precision("tf32", on_gpus=False).split(";")[0]
        'tf32 requested: on the CPU it is identical to fp32 (TF32 exists only on CUDA), so TF32 was not exercised'
    """
    stored = forward_dtype(dtype)
    flag = next(name for name, value in PRECISIONS.items() if value == stored)
    where = "on the GPUs" if on_gpus else "on the CPU"
    if stored == "tf32":
        used = ("tf32 (float32 storage, TF32 matmuls and convolutions, on the GPUs)" if on_gpus else
                "tf32 requested: on the CPU it is identical to fp32 (TF32 exists only on CUDA), "
                "so TF32 was not exercised")
    else:
        used = f"{flag} ({_PRECISION_WORDS[stored]}{', TF32 off' if on_gpus and stored == 'float32' else ''}, {where})"
    return f"{used}; activations {activation_dtype}, RDMs and rank vectors float64"
