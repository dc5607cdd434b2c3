"""A target task's finetuning and held-out examples, for transfer validation.

:class:`TargetSplits` holds one task's arrays; :class:`RenderedTargets` holds
rendered mini-Taskonomy scenes from which any task's splits are made on demand
(one rendering shared by many targets). Both answer ``.splits(task_name)``.

>>> train, held_out = split_indices(10, 0.3, seed=1)
>>> len(train), len(held_out)
(7, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.datasets.mini_taskonomy import MiniTaskonomy, task_arrays
from rsa_ray.datasets.tasks import TaskSpec, task_by_name


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
        """Itself (the same interface as :class:`RenderedTargets`).

        Raises:
            ValueError: ``task_name`` is not this split's task.
        """
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
        task = task_by_name(task_name)
        return TargetSplits(task, task_arrays(self.train, task), task_arrays(self.held_out, task))
