"""Checks of the keyword arguments a manifest passes to an architecture builder.

Arguments are data: scalars only, finite, never a URL, and only names the
builder accepts. An argument that would make a builder fetch weights from a hub
is refused by name, since weights come only from the entry's checked file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from rsa_ray.model_entry.kwarg_values import looks_like_url, value_problem

__all__ = ["ArchitectureError", "UnknownArchitectureError", "check_kwargs", "looks_like_url", "value_problem"]


class ArchitectureError(ValueError):
    """An architecture the registry refuses to build; names the field at fault.

    Attributes:
        field: The part of the entry at fault, e.g. ``"architecture.target"`` or ``"architecture.kwargs.width"``.
        problem: What is wrong with it, as the end of a sentence.
        model_id: The model whose entry it is, when known.

    Example:
        >>> str(ArchitectureError("architecture.target", "is unknown", "m1"))
        "model 'm1': field 'architecture.target' is unknown"
    """

    def __init__(self, field: str, problem: str, model_id: str | None = None):
        self.field = field
        self.problem = problem
        self.model_id = model_id
        where = f"model {model_id!r}: " if model_id is not None else ""
        super().__init__(f"{where}field {field!r} {problem}")

    def for_model(self, model_id: str) -> ArchitectureError:
        """The same error, naming the model (an error of the same class).

        Example:
            >>> str(ArchitectureError("architecture.kwargs", "is bad").for_model("m2"))
            "model 'm2': field 'architecture.kwargs' is bad"
        """
        return type(self)(self.field, self.problem, model_id)


class UnknownArchitectureError(ArchitectureError):
    """The target names no registered architecture builder."""


def check_kwargs(kwargs: Mapping[str, object], builder_name: str, accepted: Collection[str],
                 required: Collection[str] = (), refused: Mapping[str, str] | None = None) -> None:
    """Checks a builder's arguments: refused names, unknown names, values, then missing required names.

    Args:
        kwargs: The arguments from the entry.
        builder_name: The registered name, for messages.
        accepted: The names the builder accepts.
        required: The names it cannot do without.
        refused: Names refused outright, each with its reason.

    Raises:
        ArchitectureError: Naming ``architecture.kwargs.NAME``.

    Example:
        >>> check_kwargs({"width": 2}, "b", accepted=("width", "head"))
        >>> check_kwargs({"colour": "red"}, "b", accepted=("width", "head"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.ArchitectureError: field 'architecture.kwargs.colour' is not an argument of b...
    """
    refused = refused or {}
    for name in sorted(kwargs, key=str):
        field = f"architecture.kwargs.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ArchitectureError(field, "is not a valid argument name")
        if name in refused:
            raise ArchitectureError(field, refused[name])
        if name not in accepted:
            known = ", ".join(sorted(accepted)) or "no arguments"
            raise ArchitectureError(field, f"is not an argument of {builder_name} (it accepts {known})")
        problem = value_problem(kwargs[name])
        if problem is not None:
            raise ArchitectureError(field, problem)
    for name in sorted(required):
        if name not in kwargs:
            raise ArchitectureError(f"architecture.kwargs.{name}", f"is required by {builder_name}")
