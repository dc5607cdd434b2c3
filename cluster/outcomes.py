"""What became of one (model, layer) in a stage of the pipeline: done, or why not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelOutcome:
    """The result of one stage (extraction, or RDM and rank vector) for one model and layer.

    Attributes:
        model_id: The model.
        layer: The layer.
        error: None when the stage stored its entries; else why not.

    Example:
        >>> ModelOutcome("m1", "out", "activations are missing").error
        'activations are missing'
    """

    model_id: str
    layer: str
    error: str | None = None
