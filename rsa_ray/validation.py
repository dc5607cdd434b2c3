"""Transfer validation without Ray: metrics, splits, candidate choice, finetuning, summaries.

The paper's §1 items 7-8 as plain functions: choose candidates from a ranking,
finetune a candidate's encoder with a fresh task head for a fixed budget, score
it on held-out data with a higher-is-better metric, sum per-target agreement
into the paper's Table 1 counts, and measure how stable rankings are (supplement
S3). ``cluster.tune_validation`` runs :func:`finetune_and_evaluate` as Ray Tune
trials; everything here also runs in a notebook. Torch is imported only by the
finetuning functions.

>>> selection = parse_candidates("top:2")
>>> select_candidates(selection, ["depth-small", "edges_2d-small", "reshading-small"])
('depth-small', 'edges_2d-small')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rsa_ray.consistency import RankingConsistency, ranking_consistency
from rsa_ray.rdm import compute_rdms
from rsa_ray.similarity import similarity_matrix, similarity_to

if TYPE_CHECKING:
    from rsa_ray.datasets.mini_taskonomy import MiniTaskonomy
    from rsa_ray.datasets.tasks import TaskSpec

#: The candidate name of the control: the same network with a randomly initialised encoder.
CONTROL = "random-init"


# Candidates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateSelection:
    """Which candidates to finetune from: every one, the top K of the RSA ranking, or named ids.

    Attributes:
        top_k: K for ``top:K``; None for ``all`` or named ids.
        ids: The named ids (empty for ``all`` and ``top:K``).
    """

    top_k: int | None = None
    ids: tuple[str, ...] = ()


def parse_candidates(spec: str) -> CandidateSelection:
    """Parses ``all``, ``top:K`` or ``ID,ID,...``.

    Raises:
        ValueError: An empty spec, or a K that is not a positive integer (naming the spec).

    Example:
        >>> parse_candidates("all"), parse_candidates("a,b").ids
        (CandidateSelection(top_k=None, ids=()), ('a', 'b'))
    """
    spec = spec.strip()
    if spec == "all":
        return CandidateSelection()
    if spec.startswith("top:"):
        count = spec[4:]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--candidates {spec!r}: K in top:K must be a positive integer")
        return CandidateSelection(top_k=int(count))
    ids = tuple(part.strip() for part in spec.split(",") if part.strip())
    if not ids:
        raise ValueError(f"--candidates {spec!r}: expected all, top:K or a comma-separated list of model ids")
    return CandidateSelection(ids=ids)


def select_candidates(selection: CandidateSelection, ranked: Sequence[str]) -> tuple[str, ...]:
    """The candidates to finetune from, best-ranked first (named ids keep their given order).

    Args:
        selection: From :func:`parse_candidates`.
        ranked: Every candidate, best RSA similarity first.

    Raises:
        ValueError: A named id that is not a candidate.

    Example:
        >>> select_candidates(CandidateSelection(ids=("b",)), ["a", "b"])
        ('b',)
    """
    if selection.ids:
        unknown = [name for name in selection.ids if name not in ranked]
        if unknown:
            raise ValueError(f"candidates {unknown} are not among the rankable candidates {list(ranked)}")
        return selection.ids
    if selection.top_k is not None:
        return tuple(ranked[: selection.top_k])
    return tuple(ranked)


# Metrics (higher is better) -----------------------------------------------------------------


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Share of images whose arg-max logit is the label. ``outputs`` [N, C], ``targets`` [N].

    Example:
        >>> accuracy(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
        0.5
    """
    return float((np.asarray(outputs).argmax(axis=1) == np.asarray(targets)).mean())


def mean_iou(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean intersection over union of per-pixel classes, over classes present in labels or predictions.

    ``outputs`` [N, C, H, W] logits, ``targets`` [N, H, W] classes.

    Example:
        >>> logits = np.zeros((1, 2, 1, 2)); logits[0, 1, 0, 1] = 1.0
        >>> mean_iou(logits, np.array([[[0, 1]]]))
        1.0
    """
    outputs = np.asarray(outputs)
    n_classes = outputs.shape[1]
    predicted = outputs.argmax(axis=1).ravel()
    labels = np.asarray(targets).ravel()
    confusion = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    present = union > 0
    return float((intersection[present] / union[present]).mean())


def negative_l1(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the mean absolute error.

    Example:
        >>> negative_l1(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        -1.0
    """
    return -float(np.abs(np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)).mean())


def negative_mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the mean squared error.

    Example:
        >>> negative_mse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        -2.0
    """
    return -float(((np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)) ** 2).mean())


def negative_bce(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the binary cross-entropy of logits against {0, 1} targets (numerically stable form).

    Example:
        >>> round(negative_bce(np.array([0.0]), np.array([1.0])), 4)
        -0.6931
    """
    logits = np.asarray(outputs, np.float64)
    labels = np.asarray(targets, np.float64)
    return -float((np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))).mean())


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "mean_iou": mean_iou,
    "negative_l1": negative_l1,
    "negative_mse": negative_mse,
    "negative_bce": negative_bce,
}


def metric_for_task(task: TaskSpec) -> str:
    """The held-out metric that fits a task: accuracy, mIoU, or minus its regression/BCE loss.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> [metric_for_task(task_by_name(n)) for n in ("object_class", "semantic_segmentation", "depth")]
        ['accuracy', 'mean_iou', 'negative_l1']
    """
    kind, loss = task.target_kind.value, task.loss.value
    if kind == "class":
        return "accuracy"
    if kind == "dense_classes":
        return "mean_iou"
    return {"l1": "negative_l1", "mse": "negative_mse", "bce": "negative_bce"}[loss]


def score_predictions(metric: str, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Applies the named metric.

    Raises:
        ValueError: An unknown metric name (listing the valid ones).

    Example:
        >>> score_predictions("accuracy", np.eye(2), np.array([0, 1]))
        1.0
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {sorted(METRICS)}")
    return METRICS[metric](outputs, targets)


# Data -------------------------------------------------------------------------------------


def split_indices(n_examples: int, held_out_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``range(n_examples)`` into disjoint training and held-out indices.

    Raises:
        ValueError: A fraction outside (0, 1), or too few examples for both parts.

    Example:
        >>> train, held_out = split_indices(10, 0.3, seed=1)
        >>> len(train), len(held_out), sorted(np.concatenate([train, held_out]).tolist()) == list(range(10))
        (7, 3, True)
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must lie in (0, 1), got {held_out_fraction}")
    n_held_out = int(round(n_examples * held_out_fraction))
    if n_held_out < 1 or n_held_out >= n_examples:
        raise ValueError(f"cannot hold out {held_out_fraction:.0%} of {n_examples} examples and keep both parts non-empty")
    order = np.random.default_rng(seed).permutation(n_examples)
    return np.sort(order[n_held_out:]), np.sort(order[:n_held_out])


@dataclass(frozen=True)
class TargetSplits:
    """A target task with its training and held-out ``(inputs, targets)`` in torch layout.

    Attributes:
        task: The target task (fixes the head, the loss and the metric).
        train: Finetuning examples.
        held_out: Evaluation examples (never trained on).
    """

    task: TaskSpec
    train: tuple[np.ndarray, np.ndarray]
    held_out: tuple[np.ndarray, np.ndarray]

    def splits(self, task_name: str) -> TargetSplits:
        """Itself (the same interface as :class:`RenderedTargets`)."""
        if task_name != self.task.name:
            raise ValueError(f"these splits are for task {self.task.name!r}, not {task_name!r}")
        return self


@dataclass(frozen=True)
class RenderedTargets:
    """Rendered mini-Taskonomy scenes from which any task's splits are made on demand (shared by many targets).

    Attributes:
        train: Finetuning scenes.
        held_out: Evaluation scenes (disjoint scene indices or another seed).
    """

    train: MiniTaskonomy
    held_out: MiniTaskonomy

    def splits(self, task_name: str) -> TargetSplits:
        """The task's arrays from both splits."""
        from rsa_ray.datasets import task_arrays, task_by_name

        task = task_by_name(task_name)
        return TargetSplits(task, task_arrays(self.train, task), task_arrays(self.held_out, task))


# Finetuning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinetuneSettings:
    """The fixed finetuning budget.

    Attributes:
        steps: Adam steps.
        batch_size: Images per step.
        learning_rate: Adam learning rate (cosine-decayed to 10 %).
        seed: Seeds the head (and the control's encoder) and the batch order.
        evaluations: Held-out evaluations, evenly spaced, the last after the last step.
        device: Torch device string.
        eval_batch_size: Images per forward pass when evaluating.
    """

    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    evaluations: int = 1
    device: str = "cpu"
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.evaluations, self.eval_batch_size) < 1:
            raise ValueError(f"steps, batch_size, evaluations and eval_batch_size must be >= 1, got {self}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def evaluation_steps(self) -> tuple[int, ...]:
        """Steps after which the model is evaluated.

        Example:
            >>> FinetuneSettings(steps=10, evaluations=3).evaluation_steps()
            (3, 7, 10)
        """
        count = min(self.evaluations, self.steps)
        return tuple(sorted({max(1, round(self.steps * (i + 1) / count)) for i in range(count)}))


def encoder_state(model_state: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder's weights from a whole encoder-decoder's state dict (``encoder.`` prefix removed).

    Raises:
        ValueError: If the state dict has no ``encoder.*`` entries.

    Example:
        >>> sorted(encoder_state({"encoder.output.bias": 0, "head.bias": 1}))
        ['output.bias']
    """
    state = {key[len("encoder."):]: value for key, value in model_state.items() if key.startswith("encoder.")}
    if not state:
        raise ValueError(f"state dict has no encoder.* weights (keys start {sorted(model_state)[:3]})")
    return state


def build_transfer_model(task: TaskSpec, encoder_weights: Mapping[str, Any] | None, width: int = 1, seed: int = 0):
    """The Table S1 network for ``task`` with a fresh head; its encoder from ``encoder_weights`` (None: random).

    Raises:
        ValueError: Weights that do not fit the encoder of that width (naming the mismatch).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> type(build_transfer_model(task_by_name("depth"), None)).__name__
        'EncoderDecoder'
    """
    import torch

    from rsa_ray.models.encoder_decoder import build_encoder_decoder
    from rsa_ray.training import architecture_for_task

    torch.manual_seed(seed)
    model = build_encoder_decoder(**architecture_for_task(task, width).kwargs_dict())
    if encoder_weights is not None:
        tensors = {name: torch.tensor(np.asarray(value, dtype=np.float32)) for name, value in encoder_weights.items()}
        try:
            model.encoder.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            raise ValueError(f"encoder weights do not fit a width-{width} Table S1 encoder: {str(error).splitlines()[0]}") from None
    return model


def predict_outputs(model, inputs: np.ndarray, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """The model's outputs for ``inputs`` [N, 3, H, W], in eval mode, as float32 numpy."""
    import torch

    model.eval()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(np.array(inputs[start : start + batch_size], dtype=np.float32))
            chunks.append(model(batch.to(device)).float().cpu().numpy())
    model.train()
    return np.concatenate(chunks)


def finetune_and_evaluate(
    splits: TargetSplits,
    encoder_weights: Mapping[str, Any] | None,
    settings: FinetuneSettings = FinetuneSettings(),
    width: int = 1,
    report: Callable[[int, float], None] | None = None,
) -> float:
    """Finetunes encoder + fresh head on ``splits.train`` and scores it on ``splits.held_out``.

    Args:
        splits: The target task and its data.
        encoder_weights: The candidate's encoder weights (:func:`encoder_state`); None is the control.
        settings: The budget.
        width: The candidate encoder's width multiplier.
        report: Called with ``(step, metric)`` at every evaluation (Ray Tune reports through it).

    Returns:
        The held-out metric after the last step (higher is better; see :func:`metric_for_task`).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> rng = np.random.default_rng(0)
        >>> data = (rng.random((8, 3, 16, 16), dtype=np.float32), rng.integers(0, 4, 8))
        >>> splits = TargetSplits(task_by_name("object_count"), data, data)
        >>> 0.0 <= finetune_and_evaluate(splits, None, FinetuneSettings(steps=2, batch_size=4)) <= 1.0
        True
    """
    import torch

    from rsa_ray.training import task_loss

    task, metric = splits.task, metric_for_task(splits.task)
    model = build_transfer_model(task, encoder_weights, width, settings.seed).to(settings.device)
    inputs, targets = (torch.from_numpy(np.array(array)) for array in splits.train)  # a writable copy per trial
    if len(inputs) == 0 or len(inputs) != len(targets):
        raise ValueError(f"task {task.name!r}: need equal, non-zero numbers of training inputs and targets")
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps, eta_min=0.1 * settings.learning_rate)
    order_rng = np.random.default_rng(settings.seed)
    evaluation_steps, score = settings.evaluation_steps(), float("nan")
    model.train()
    for step in range(1, settings.steps + 1):
        batch = torch.from_numpy(order_rng.choice(len(inputs), size=min(settings.batch_size, len(inputs)), replace=False))
        loss = task_loss(task, model(inputs[batch].float().to(settings.device)), targets[batch].to(settings.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step in evaluation_steps:
            outputs = predict_outputs(model, splits.held_out[0], settings.eval_batch_size, settings.device)
            score = score_predictions(metric, outputs, splits.held_out[1])
            if report is not None:
                report(step, score)
    return score


# Summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table1Counts:
    """The paper's Table 1 over targets: how often the RSA top-1 is within the transfer top-k.

    Attributes:
        n_targets: Targets scored.
        top_k_hits: k → number of targets whose RSA top-1 is within the top k by transfer.
        mean_pearson: Mean Pearson r between similarity and performance.
        mean_spearman: Mean Spearman r_s.
    """

    n_targets: int
    top_k_hits: dict[int, int]
    mean_pearson: float
    mean_spearman: float


def table1_counts(hits: Sequence[Mapping[int, bool]], pearson: Sequence[float], spearman: Sequence[float]) -> Table1Counts:
    """Sums per-target top-k hits and averages the correlations.

    Raises:
        ValueError: Inputs of different lengths, or targets with different ks.

    Example:
        >>> table1_counts([{1: True, 3: True}, {1: False, 3: True}], [0.5, 0.1], [0.4, 0.2]).top_k_hits
        {1: 1, 3: 2}
    """
    if not len(hits) == len(pearson) == len(spearman):
        raise ValueError(f"got {len(hits)} hit records, {len(pearson)} Pearson and {len(spearman)} Spearman values")
    ks = sorted(hits[0]) if hits else []
    if any(sorted(record) != ks for record in hits):
        raise ValueError("every target must have hits for the same ks")
    return Table1Counts(
        n_targets=len(hits),
        top_k_hits={k: int(sum(bool(record[k]) for record in hits)) for k in ks},
        mean_pearson=float(np.mean(pearson)) if len(pearson) else float("nan"),
        mean_spearman=float(np.mean(spearman)) if len(spearman) else float("nan"),
    )


# Consistency (supplement S3) -----------------------------------------------------------------


def _similarity_of(features: Mapping[str, np.ndarray], rows: slice | None = None) -> np.ndarray:
    chosen = [np.asarray(f)[rows] if rows is not None else np.asarray(f) for f in features.values()]
    return similarity_matrix(compute_rdms(chosen, names=list(features)))


def consistency_vs_probe_count(features: Mapping[str, np.ndarray], counts: Sequence[int]) -> dict[int, RankingConsistency]:
    """Ranking agreement of similarities from the first ``n`` probe images with those from all of them.

    Args:
        features: Model id → [M, D] features on one probe set (same image order for all).
        counts: Probe counts to try, each in 3..M.

    Returns:
        count → the per-target :class:`RankingConsistency` against all M images.

    Raises:
        ValueError: A count outside 3..M.

    Example:
        >>> rng = np.random.default_rng(0); shared = rng.normal(size=(60, 8))
        >>> feats = {f"m{i}": shared * i + rng.normal(size=(60, 8)) for i in range(4)}
        >>> sorted(consistency_vs_probe_count(feats, [20, 40]))
        [20, 40]
    """
    n_images = min(len(f) for f in features.values())
    bad = [count for count in counts if not 3 <= count <= n_images]
    if bad:
        raise ValueError(f"probe counts {bad} are outside 3..{n_images} (the images available)")
    reference = _similarity_of(features)
    return {int(count): ranking_consistency(_similarity_of(features, slice(0, count)), reference) for count in counts}


def consistency_vs_variant(reference: Mapping[str, np.ndarray], variant: Mapping[str, np.ndarray]) -> RankingConsistency:
    """Agreement of every target's ranking when all models are replaced by variants (e.g. earlier checkpoints).

    Args:
        reference: Model id → features of the reference models (e.g. final).
        variant: The same ids (same order of use) → features of their variants.

    Raises:
        ValueError: The two mappings hold different ids.
    """
    if set(reference) != set(variant):
        raise ValueError(f"variant ids {sorted(set(variant) ^ set(reference))} do not match the reference's")
    ordered = {model_id: variant[model_id] for model_id in reference}
    return ranking_consistency(_similarity_of(ordered), _similarity_of(reference))


def consistency_of_target_swap(features: Mapping[str, np.ndarray], swaps: Mapping[str, np.ndarray]) -> RankingConsistency:
    """Agreement of a target's ranking of the other models when the target model is replaced (e.g. by a wider one).

    Args:
        features: Model id → features of every model (targets and candidates).
        swaps: Target id (a key of ``features``) → features of its replacement.

    Returns:
        One row per swapped target: Spearman between its two similarity rows over the other models.

    Raises:
        ValueError: A swapped id that is not in ``features``.
    """
    unknown = sorted(set(swaps) - set(features))
    if unknown:
        raise ValueError(f"swapped targets {unknown} are not among the models {sorted(features)}")
    ids = list(features)
    rdms = compute_rdms([np.asarray(f) for f in features.values()], names=ids)
    base = similarity_matrix(rdms)
    swapped_rows = similarity_to(compute_rdms([np.asarray(f) for f in swaps.values()], names=list(swaps)), rdms)
    rows_a, rows_b = [], []
    for row, target in enumerate(swaps):
        others = [i for i in range(len(ids)) if i != ids.index(target)]
        rows_a.append(base[ids.index(target), others])
        rows_b.append(swapped_rows[row, others])
    return ranking_consistency(np.array(rows_a), np.array(rows_b), exclude_self=False)


__all__ = [
    "CONTROL",
    "METRICS",
    "CandidateSelection",
    "FinetuneSettings",
    "RenderedTargets",
    "Table1Counts",
    "TargetSplits",
    "accuracy",
    "build_transfer_model",
    "consistency_of_target_swap",
    "consistency_vs_probe_count",
    "consistency_vs_variant",
    "encoder_state",
    "finetune_and_evaluate",
    "mean_iou",
    "metric_for_task",
    "negative_bce",
    "negative_l1",
    "negative_mse",
    "parse_candidates",
    "predict_outputs",
    "score_predictions",
    "select_candidates",
    "split_indices",
    "table1_counts",
]
