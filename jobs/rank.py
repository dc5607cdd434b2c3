"""``rsa-ray rank --target T``: the zoo ranked as sources for one target.

A target with labelled images (``--data``, or recorded by ``train-target``) is scored on its own
images under one or more transferability scores (``--score``), with bootstrap intervals; a target
that is only a model is ranked by RSA on the shared probe set, as taxonomies compare models.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import add_output_argument, choose_probe, default_role, open_store, output_dir, positive_int
from jobs.config import add_common_arguments
from jobs.score_defaults import DEFAULT_SCORES
from rsa_ray.estimators import ESTIMATORS, parse_scores

if TYPE_CHECKING:  # pandas, plots and the store are imported where a ranking is made
    import pandas as pd

    from cluster.probe_sets import ExtractedStage

    from jobs.target_data import TargetData
    from jobs.target_scores import ScoringOptions, TargetScores
    from rsa_ray import RankedCandidate
    from storage import SimilarityMatrix, Store
    from storage.targets import TargetRecord


def ranking_for(store: Store, probe_id: str, layer: str, target: str,
                similarity: SimilarityMatrix | None = None) -> tuple[RankedCandidate, ...]:
    """Every other model of the latest similarity version (or of ``similarity``), best source first.

    Raises:
        ValueError: No similarity for the layer, or the target is not in it.
    """
    from rsa_ray import rank_candidates

    if similarity is None:
        if not store.similarity_versions(probe_id, layer):
            raise ValueError(f"no similarity for layer {layer!r} yet; run `rsa-ray similarity` or `rsa-ray taxonomy` first")
        similarity = store.read_similarity(probe_id, layer)
    if target not in similarity.model_ids:
        registered = target in store.model_ids()
        why = "is registered but has no results yet; run `rsa-ray rerank`" if registered else "is not a registered model"
        raise ValueError(f"target {target!r} {why}")
    row = similarity.model_ids.index(target)
    others = [i for i in range(len(similarity.model_ids)) if i != row]
    return rank_candidates(similarity.matrix[row, others], [similarity.model_ids[i] for i in others])


def ranking_table(ranking, target: str, layer: str, task_type_of, similarity: SimilarityMatrix) -> pd.DataFrame:
    """The ranking as a table, naming the similarity version it was read from (what it follows)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "target": target,
            "layer": layer,
            "rank": [c.rank for c in ranking],
            "candidate": [c.name for c in ranking],
            "task_type": [task_type_of.get(c.name, "other") for c in ranking],
            "similarity": [c.score for c in ranking],
            "probe_id": similarity.probe_id,
            "similarity_version": similarity.version,
        }
    )


def current_ranking_table(store: Store, probe_id: str, layer: str, target: str) -> pd.DataFrame:
    """The ranking of ``target`` from the latest similarity version, as a table.

    Example:
        >>> current_ranking_table(store, probe_id, "encoder.output", "digits")["candidate"][0]  # doctest: +SKIP
        'inpainting-small'
    """
    if not store.similarity_versions(probe_id, layer):
        raise ValueError(f"no similarity for layer {layer!r} yet; run `rsa-ray similarity` or `rsa-ray taxonomy` first")
    similarity = store.read_similarity(probe_id, layer)
    ranking = ranking_for(store, probe_id, layer, target, similarity)
    task_type_of = {entry.model_id: entry.task_type or "other" for entry in store.models([c.name for c in ranking])}
    return ranking_table(ranking, target, layer, task_type_of, similarity)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_output_argument(parser)
    parser.add_argument("--target", required=True,
                        help="the target: a model's id (e.g. one trained with train-target) or a task with labelled images")
    parser.add_argument("--data", default=None,
                        help="the target's labelled images (sklearn-digits, an .npz with images and labels, or a folder of "
                             "class folders): stored as the target's probe set, every candidate is scored on them")
    parser.add_argument("--score", default=None, metavar="all|NAME,...",
                        help=f"transferability scores ({', '.join(ESTIMATORS)}; default: {DEFAULT_SCORES['classes']} for "
                             f"class labels, {DEFAULT_SCORES['regression']} for regression targets, rsa on the shared "
                             "probe set for a target without labelled images)")
    parser.add_argument("--bootstrap", type=int, default=100, metavar="N",
                        help="resamples of the target images for intervals, P(best) and the top set: each half the "
                             "images, drawn without replacement (0: none; default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the target image sample and the resamples")
    parser.add_argument("--twin-adjust", action="store_true",
                        help="report each score minus that of a seeded random-init twin of the candidate's own "
                             "architecture (built, extracted and kept for later ranks; off by default: "
                             "docs/validation.md)")
    parser.add_argument("--task-type", default="semantic", choices=["2d", "3d", "semantic", "geometric"],
                        help="the target task's type (with --data)")
    parser.add_argument("--image-size", type=int, default=64, help="side the target images are stored at (with --data)")
    parser.add_argument("--target-images", type=int, default=500, metavar="N",
                        help="target images scored on (a seeded sample of the training split; with --data)")
    parser.add_argument("--top", type=positive_int, default=5, help="how many candidates to print")
    parser.add_argument("--probe", default=None, help="probe set id (default: the store's only one)")
    parser.add_argument("--layer", default=None, metavar="ROLE",
                        help="layer role (default: every model at its default layer, as taxonomy compares them)")


def ranking_role(store: Store, probe_id: str, target: str) -> str:
    """The role a ranking without ``--layer`` reads: the models' default (:func:`jobs.common.default_role`
    over the registered models), else the target's own default layer where only that one has results.

    Example:
        >>> ranking_role(store, probe_id, "digits")  # doctest: +SKIP
        'default'
    """
    shared = default_role(store, store.model_ids())
    own = store.model(target).default_layer
    if not store.similarity_versions(probe_id, shared) and store.similarity_versions(probe_id, own):
        return own
    return shared


def ranking_of(table: pd.DataFrame) -> list[RankedCandidate]:
    """The candidates of a ranking table, best first.

    Example:
        >>> import pandas as pd
        >>> ranking_of(pd.DataFrame({"rank": [1], "candidate": ["a"], "similarity": [0.5]}))[0].name
        'a'
    """
    from rsa_ray import RankedCandidate

    return [RankedCandidate(int(r), str(c), float(v)) for r, c, v in zip(table["rank"], table["candidate"],
                                                                        table["similarity"])]


def write_ranking(store: Store, table: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    """Stores the ranking table (and its CSV) and draws its bar plot; returns the CSV's and the plot's paths.

    Example:
        >>> write_ranking(store, current_ranking_table(store, probe_id, "out", "t"), Path("out"))  # doctest: +SKIP
        (PosixPath('out/ranking.t.csv'), PosixPath('out/ranking.t.png'))
    """
    from jobs.outputs import write_table
    from jobs.report import plot_ranking_bars

    target, layer = str(table["target"].iloc[0]), str(table["layer"].iloc[0])
    write_table(store, out, f"ranking.{target}.{layer}", table, csv_name=f"ranking.{target}")
    figure = plot_ranking_bars(ranking_of(table), target, dict(zip(table["candidate"], table["task_type"])),
                               out / f"ranking.{target}.png")
    return out / f"ranking.{target}.csv", figure


def ranking_lines(table: pd.DataFrame, top: int) -> list[str]:
    """The ranking's top candidates as text.

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"target": "t", "layer": "out", "rank": [1], "candidate": ["a"],
        ...                       "task_type": ["2d"], "similarity": [0.5]})
        >>> ranking_lines(table, 1)[1].split()
        ['1.', 'a', '0.5000', '(2d)']
    """
    target, layer = str(table["target"].iloc[0]), str(table["layer"].iloc[0])
    lines = [f"best sources to finetune {target} from (layer {layer}):"]
    for rank, candidate, score, task_type in zip(table["rank"], table["candidate"], table["similarity"],
                                                 table["task_type"]):
        if len(lines) > top:
            break
        lines.append(f"  {rank:>3}. {candidate:<30} {score:.4f}  ({task_type})")
    return lines


def print_ranking(store: Store, probe_id: str, layer: str, target: str, top: int, out: Path) -> pd.DataFrame:
    """Ranks the zoo for ``target``, writes the table and the bar plot, and prints the top candidates.

    Example:
        >>> print_ranking(store, probe_id, "out", "t", 3, Path("out"))  # doctest: +SKIP
        best sources to finetune t from (layer out): ...
    """
    table = current_ranking_table(store, probe_id, layer, target)
    csv, figure = write_ranking(store, table, out)
    print("\n".join(ranking_lines(table, top)))
    print(f"ranking table: {store.url} (table ranking.{target}.{layer}) and {csv}; plot: {figure}")
    return table


def target_record(store: Store, target: str, data: TargetData | None):
    """The target's record: stored from ``data`` (its labelled images, ``--data``), or recorded earlier; None if neither."""
    if data is None:
        return store.target(target)
    from jobs.target_data import ensure_target

    trained = target if target in store.model_ids() else None
    return ensure_target(store, data, model_id=trained)


def write_scores(store: Store, result: TargetScores, target: str, out: Path) -> tuple[str, Path]:
    """Stores the score table (and its CSV); returns the table's name and the CSV's path.

    Example:
        >>> write_scores(store, score_target(store, record, options), "digits", Path("out"))  # doctest: +SKIP
        ('scores.digits.encoder.output', PosixPath('out/scores.digits.csv'))
    """
    from jobs.outputs import write_table

    name = f"scores.{target}.{result.layer}"
    write_table(store, out, name, result.table, csv_name=f"scores.{target}")
    return name, out / f"scores.{target}.csv"


def score_lines(result: TargetScores, record: TargetRecord, options: ScoringOptions, top: int) -> list[str]:
    """What ``rank`` prints of a score table: absent and uninformative scores, candidates not scored, the top
    rows, and last what can be decided (:func:`jobs.score_table.printed_rows`).

    Example:
        >>> score_lines(score_target(store, record, options), record, options, 5)[-1]  # doctest: +SKIP
        'decided: under logme the top 3 cannot be told apart'
    """
    from jobs.score_table import absent_lines, printed_rows, uninformative_lines

    lines = absent_lines(result.table) + uninformative_lines(result.table)
    lines += [f"candidate {model_id} not scored: {why}" for model_id, why in result.failures]
    interval = (f", {options.bootstrap} resamples of the images; * = cannot be told apart from the top"
                if options.bootstrap else "")
    lines.append(f"best sources to finetune {record.name} from ({record.n_images} target images, layer "
                 f"{result.layer}; value (rank) per score{interval}):")
    return lines + printed_rows(result.table, result.scores, top)


def print_scores(store: Store, record: TargetRecord, options: ScoringOptions, top: int, out: Path,
                 stage: ExtractedStage | None = None) -> TargetScores:
    """Scores every candidate for the target on its images, on the Ray the command connected to; writes the
    table, prints its top rows and returns the :class:`jobs.target_scores.TargetScores` (its ``failures``:
    candidates not scored). ``stage``: what the command's extraction stage already ran.

    Example:
        >>> print_scores(store, store.target("digits"), ScoringOptions(("knn",)), 5, Path("out"))  # doctest: +SKIP
    """
    from jobs.target_scores import score_target

    task_type_of = {entry.model_id: entry.task_type or "other" for entry in store.models(store.model_ids())}
    result = score_target(store, record, options, task_type_of, stage=stage)
    name, csv = write_scores(store, result, record.name, out)
    print("\n".join(score_lines(result, record, options, top)))
    print(f"score table: {store.url} (table {name}) and {csv}")
    return result


def run(args: argparse.Namespace) -> int:
    from jobs.compute import connect_once
    from jobs.target_data import TargetData
    from jobs.target_scores import ScoringOptions, default_score

    store = open_store(args.store)
    # Every flag is checked before the target's images are stored: a refused run writes nothing.
    options = ScoringOptions(parse_scores(args.score or "rsa"), args.bootstrap, args.seed, args.layer,
                             twin_adjust=args.twin_adjust)
    if not store.model_ids():
        raise ValueError(f"the store {store.url} has no registered models; add them with `rsa-ray models add`")
    data = None if args.data is None else TargetData(args.data, args.target, args.task_type, args.image_size,
                                                     args.target_images, args.seed)
    record = target_record(store, args.target, data)
    if record is None:
        if args.score not in (None, "rsa"):
            raise ValueError(f"target {args.target!r} has no labelled images for --score {args.score}; "
                             "pass them with --data (or train the target with `rsa-ray train-target`)")
        probe_id = choose_probe(store, args.probe)
        if args.target not in store.model_ids():
            raise ValueError(f"target {args.target!r} is not a registered model (pass its labelled images with --data)")
        layer = args.layer or ranking_role(store, probe_id, args.target)
        print_ranking(store, probe_id, layer, args.target, args.top, output_dir(args.out))
        return 0
    if args.score is None:
        options = dataclasses.replace(options, scores=(default_score(record.label_kind),))
    top, out = args.top, output_dir(args.out)
    connect_once(args.address)
    result = print_scores(store, record, options, top, out)
    return 3 if result.failures else 0


SUBCOMMAND = Subcommand("rank", "rank the zoo as sources for a target model", add_arguments, run)
