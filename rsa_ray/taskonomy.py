"""Taskonomy's published transfer results, loaded safely, as a source × target matrix.

The files (``rsa_ray/data/taskonomy``, copied from the Taskonomy repository, MIT
licence) are pickled dicts keyed ``"source__target"`` (higher-order transfers
have more parts; the last is the target). Unpickling can run code, so they are
read by :class:`RestrictedUnpickler`, which admits only plain containers and
numpy scalars and refuses any other global by name.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data" / "taskonomy"

# Names used by the RSA paper (and rsa_ray) → names in Taskonomy's files.
TASKONOMY_NAMES: dict[str, str] = {
    "autoencoder": "autoencoder",
    "class_object": "class_1000",
    "class_scene": "class_selected",
    "curvature": "curvature",
    "denoise": "denoise",
    "edge2d": "edge2d",
    "edge3d": "edge3d",
    "keypoint2d": "keypoint2d",
    "keypoint3d": "keypoint3d",
    "reshade": "reshade",
    "depth": "rgb2depth",
    "distance": "rgb2mist",
    "normal": "rgb2sfnorm",
    "room_layout": "room_layout",
    "segment25d": "segment25d",
    "segment2d": "segment2d",
    "segmentsemantic": "segmentsemantic_rb",
    "vanishing_point": "vanishing_point_well_defined",
}

# The single-image tasks that are both sources and targets in the files (18);
# the RSA paper's 17 leave out scene classification, which the 1k/16k files lack as a target.
TASKS_18: tuple[str, ...] = tuple(TASKONOMY_NAMES)
TASKS_17: tuple[str, ...] = tuple(task for task in TASKS_18 if task != "class_scene")

RESULT_FILES: tuple[str, ...] = (
    "all_affinities",
    "all_affinities_1k",
    "all_affinities_16k",
    "wins_vs_pixels",
    "wins_vs_pixels_16k",
    "wins_vs_task",
    "wins_vs_task_16k",
)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers, numbers, strings and numpy scalars only.

    Example:
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"a__b": 0.5}))).load()
        {'a__b': 0.5}
    """

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: only numpy scalars are allowed")
        return super().find_class(module, name)


def load_results(name_or_path: str | Path = "all_affinities") -> dict[str, float]:
    """One results file as ``{"source__target": value}`` (first and higher orders).

    Args:
        name_or_path: One of :data:`RESULT_FILES`, or a path to such a pickle.

    Returns:
        The values as Python floats.

    Raises:
        ValueError: Unknown name, or a file that is not a dict of numbers.
        pickle.UnpicklingError: The file asks for anything but numpy scalars.

    Example:
        >>> round(load_results("all_affinities")["rgb2depth__rgb2sfnorm"], 4) > 0
        True
    """
    path = Path(name_or_path)
    if path.suffix != ".pkl":
        if str(name_or_path) not in RESULT_FILES:
            raise ValueError(f"unknown Taskonomy results {name_or_path!r}; valid: {', '.join(RESULT_FILES)}")
        path = DATA_DIR / f"{name_or_path}.pkl"
    loaded = RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a dict of transfers, got {type(loaded).__name__}")
    results = {}
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{path}: entry {key!r} is not 'source__target' → number")
        results[key] = float(value)
    return results


def transfer_matrix(results: dict[str, float], tasks: Sequence[str] = TASKS_17) -> np.ndarray:
    """The first-order source × target matrix for ``tasks`` (rsa_ray names), diagonal included.

    Entry [i, j] is the result of transferring from task i to task j; the diagonal
    is the task-specific network's own entry (``"task__task"``).

    Raises:
        ValueError: An unknown task name, or a transfer missing from ``results``.

    Example:
        >>> transfer_matrix(load_results(), TASKS_17).shape
        (17, 17)
    """
    unknown = [task for task in tasks if task not in TASKONOMY_NAMES]
    if unknown:
        raise ValueError(f"unknown Taskonomy tasks {unknown}; valid: {', '.join(TASKONOMY_NAMES)}")
    matrix = np.empty((len(tasks), len(tasks)))
    for i, source in enumerate(tasks):
        for j, target in enumerate(tasks):
            key = f"{TASKONOMY_NAMES[source]}__{TASKONOMY_NAMES[target]}"
            if key not in results:
                raise ValueError(f"the results have no transfer {key!r} ({source} → {target})")
            matrix[i, j] = results[key]
    return matrix
