"""The options of ``rsa-ray validate``: its flags, the ``--candidates`` text and the ``--smoke-test`` sizes.

>>> parse_candidates("top:2")
CandidateSelection(top_k=2, ids=())
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jobs.common import add_output_argument
from jobs.config import add_common_arguments
from jobs.validate_transfer import parse_transfers

if TYPE_CHECKING:
    from cluster.tune_validation import TuneValidationOptions
    from rsa_ray.source_ranking import CandidateSelection

SMOKE_TASKS = ("autoencoding", "depth", "semantic_segmentation", "camera_pose")


def parse_candidates(spec: str) -> CandidateSelection:
    """Parses ``--candidates``: ``all``, ``top:K`` or ``ID,ID,...``.

    Raises:
        ValueError: An empty spec, or a K that is not a positive integer (naming the spec).

    Example:
        >>> parse_candidates("all"), parse_candidates("a,b").ids
        (CandidateSelection(top_k=None, ids=()), ('a', 'b'))
    """
    from rsa_ray.source_ranking import CandidateSelection  # imported here: it pulls in numpy, which --help needs not

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


@dataclass(frozen=True)
class ValidateOptions:
    """What ``validate`` runs (the flags, after ``--smoke-test`` shrank them).

    Attributes:
        target: A mini-Taskonomy task name or a dataset (``sklearn-digits``, .npz, folder).
        candidates: ``all``, ``top:K`` or ``ID,ID,...``.
        tasks: Zoo tasks to register as candidates (and, with ``--replicate``, to use as targets).
        steps: Finetuning steps per trial.
        seeds: Seeds per candidate.
        batch_size: Images per finetuning step.
        learning_rates: One rate or a small grid.
        n_train: Finetuning examples.
        n_val: Held-out examples.
        image_size: Input side for finetuning.
        target_steps: Training steps of a dataset target's small model.
        probes: Mini-Taskonomy probe images to add when the store has no probe set.
        evaluations: Held-out evaluations per trial (ASHA decides at each).
        asha: ASHA early stopping.
        dataset_seed: Seed of the rendered mini-Taskonomy finetuning scenes (the zoo used 0).
        consistency_probes: Probe images of the largest set in the consistency analyses.
        probe_counts: Smaller probe counts compared with the largest.
        transfers: How transfer is measured: ``finetune`` (Tune) and/or ``linear-probe`` (held-out).
        scores: The estimators validated (names of ``rsa_ray.estimators``).
        bootstrap: Bootstrap samples of the scores' intervals (0: none).
        target_images: Target images the estimators score on.
        candidates_from: ``shipped`` (register the shipped zoo's small models) or ``registered``
            (only the store's models, of any architecture; needs ``--transfer linear-probe``).
        freeze_encoder: Finetuning trains the decoder / head only, on each candidate's fixed encoder.
        probe_id: The shared probe set (``--probe``); None: the store's only one, or a new one of ``probes``.
        weights_dir: Where a dataset target's small model is saved (``--weights-dir``); None: beside the store.
        address: The Ray address (``--address``); None: local Ray.
    """

    target: str | None = None
    candidates: str = "all"
    tasks: tuple[str, ...] = ()
    steps: int = 150
    seeds: int = 2
    batch_size: int = 32
    learning_rates: tuple[float, ...] = (1e-3,)
    n_train: int = 500
    n_val: int = 200
    image_size: int = 64
    target_steps: int = 300
    probes: int = 500
    evaluations: int = 1
    asha: bool = False
    dataset_seed: int = 1
    consistency_probes: int = 2000
    probe_counts: tuple[int, ...] = (100, 200, 400, 1000)
    transfers: tuple[str, ...] = ("finetune", "linear-probe")
    scores: tuple[str, ...] = ()
    bootstrap: int = 0
    target_images: int = 300
    candidates_from: str = "shipped"
    freeze_encoder: bool = False
    probe_id: str | None = None
    weights_dir: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.candidates_from == "registered" and "finetune" in self.transfers:
            raise ValueError("--candidates-from registered takes models of any architecture, which validate cannot "
                             "finetune: add --transfer linear-probe")

    def tune_options(self, name: str) -> TuneValidationOptions:
        """The Tune experiment's options, named ``name``."""
        from cluster.tune_validation import TuneValidationOptions  # imported here: it pulls in Ray Tune

        return TuneValidationOptions(
            steps=self.steps, seeds=self.seeds, batch_size=self.batch_size, learning_rates=self.learning_rates,
            evaluations=self.evaluations, asha=self.asha, experiment_name=name, freeze_encoder=self.freeze_encoder,
        )


def smoke_test_options(options: ValidateOptions) -> ValidateOptions:
    """Seconds-sized settings: 4 zoo tasks (3 candidates), 3 steps, 1 seed, 32 px, 40 probe images.

    Example:
        >>> smoke_test_options(ValidateOptions(target="depth")).steps
        3
    """
    return replace(
        options, tasks=SMOKE_TASKS,
        steps=3, seeds=1, batch_size=8, n_train=24, n_val=12, image_size=32, target_steps=5, probes=40,
        consistency_probes=60, probe_counts=(20, 40), target_images=min(options.target_images, 24),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``rsa-ray validate``: one mode, the candidates, the finetuning budget and the data sizes."""
    add_common_arguments(parser)
    add_output_argument(parser)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--target", help="a zoo task (e.g. depth) or a dataset: sklearn-digits, FILE.npz, FOLDER")
    mode.add_argument("--replicate", action="store_true", help="leave-one-out over the zoo tasks (the paper's Table 1)")
    mode.add_argument("--consistency", action="store_true", help="ranking consistency vs probe count, training stage, model size")
    parser.add_argument("--candidates", default="all", help="all, top:K or ID,ID,... (default all)")
    parser.add_argument("--tasks", default=None, help="zoo tasks to use, comma-separated (default: all 17)")
    parser.add_argument("--steps", type=int, default=150, help="finetuning steps per trial")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per candidate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, action="append", default=None, help="repeat for a grid (default 1e-3)")
    parser.add_argument("--n-train", type=int, default=500, help="finetuning examples")
    parser.add_argument("--n-val", type=int, default=200, help="held-out examples")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--target-steps", type=int, default=300, help="training steps of a dataset target's small model")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="finetune the decoder / head only, on each candidate's fixed encoder (a readout)")
    parser.add_argument("--evaluations", type=int, default=1, help="held-out evaluations per trial")
    parser.add_argument("--asha", action="store_true", help="ASHA early stopping on the held-out metric (4 evaluations per trial unless --evaluations says more)")
    parser.add_argument("--probe", default=None, help="probe set id (default: the store's only one, else 500 mini-Taskonomy scenes)")
    parser.add_argument("--probes", type=int, default=500, help="probe scenes to add when the store has none")
    parser.add_argument("--consistency-probes", type=int, default=2000, help="probe scenes of the largest set in --consistency")
    parser.add_argument("--weights-dir", default=None, help="where a dataset target's small model goes (default <store>/weights)")
    parser.add_argument("--transfer", default="finetune,linear-probe",
                        help="measured transfer the estimators are scored against: finetune (Ray Tune), linear-probe "
                             "(held-out, on frozen features), or both (default)")
    parser.add_argument("--score", default="all", metavar="all|NAME,...", help="estimators to validate (default all)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap samples for score intervals (default 0)")
    parser.add_argument("--target-images", type=int, default=300, metavar="N", help="target images the estimators score on")
    parser.add_argument("--candidates-from", default="shipped", choices=["shipped", "registered"],
                        help="shipped: the shipped zoo's small models (registered if missing); registered: the store's "
                             "models of any architecture (with --transfer linear-probe)")
    parser.add_argument("--smoke-test", action="store_true", help="seconds-sized run: 4 zoo tasks, 3 steps, 1 seed, 32 px")


def options_from_args(args: argparse.Namespace) -> ValidateOptions:
    """The options the flags describe (shrunk by ``--smoke-test``).

    Raises:
        ValueError: An unknown task or target, or a bad ``--candidates`` (before any work).
    """
    from rsa_ray.estimators import parse_scores  # imported here: the estimators pull in scipy, which --help needs not

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else ()
    if tasks:
        from rsa_ray.datasets import task_by_name

        for task in tasks:
            task_by_name(task)  # raises naming the closest tasks
    options = ValidateOptions(
        target=args.target, candidates=args.candidates, tasks=tasks, steps=args.steps, seeds=args.seeds,
        batch_size=args.batch_size, learning_rates=tuple(args.learning_rate or (1e-3,)), n_train=args.n_train,
        n_val=args.n_val, image_size=args.image_size, target_steps=args.target_steps, probes=args.probes,
        evaluations=4 if args.asha and args.evaluations < 2 else args.evaluations, asha=args.asha, consistency_probes=args.consistency_probes,
        transfers=parse_transfers(args.transfer), scores=parse_scores(args.score), bootstrap=args.bootstrap,
        target_images=args.target_images, candidates_from=args.candidates_from, freeze_encoder=args.freeze_encoder,
        probe_id=args.probe, weights_dir=args.weights_dir, address=args.address,
    )
    parse_candidates(options.candidates)  # fail before any work
    _check_target(args.target)
    return smoke_test_options(options) if args.smoke_test else options


def _check_target(target: str | None) -> None:
    from rsa_ray.datasets import MINI_TASKONOMY_TASKS

    tasks = [task.name for task in MINI_TASKONOMY_TASKS]
    if target is None or target in tasks or target == "sklearn-digits" or target.endswith(".npz") or os.path.isdir(target):
        return
    raise ValueError(f"--target {target!r} is neither a zoo task ({', '.join(tasks)}) nor sklearn-digits, an .npz or a folder")
