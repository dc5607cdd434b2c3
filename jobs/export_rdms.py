"""``rsa-ray export-rdms``: a layer's RDMs, or its model-by-model similarity, as an rsatoolbox HDF5 file.

The file is what ``rsatoolbox.rdm.RDMs.save(path, file_type="hdf5")`` writes and
``rsatoolbox.rdm.load_rdm`` reads (:mod:`storage.rsatoolbox_io`); it is written under a temporary
name and renamed, so the file named by ``--out`` is always whole. rsatoolbox and the store are
imported only when the command runs, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import choose_models, choose_probe, open_store
from jobs.config import add_common_arguments

if TYPE_CHECKING:
    from storage import Store

SUFFIXES = (".hdf5", ".h5")  # what rsatoolbox.rdm.load_rdm reads as HDF5 without being told


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--probe", default=None, help="probe set id (default: the store's only one)")
    parser.add_argument("--layer", required=True, metavar="ROLE", help="the layer role whose RDMs to export")
    parser.add_argument("--models", nargs="+", default=None, metavar="ID",
                        help="model ids, separated by commas or spaces, in the order wanted (default: every "
                             "registered model with a complete RDM for the layer)")
    parser.add_argument("--similarity", action="store_true",
                        help="export the model-by-model similarity instead: one RDM of 1 - r between the models")
    parser.add_argument("--similarity-version", type=_version_number, default=None, metavar="N",
                        help="the similarity version to export (implies --similarity; default the latest)")
    parser.add_argument("--out", required=True, metavar="FILE.hdf5", help="the rsatoolbox HDF5 file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace the file if it exists")


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a version number >= 1, got {text!r}")
    return int(text)


def _model_list(values: Sequence[str] | None) -> list[str] | None:
    """``--models a,b c`` as ``["a", "b", "c"]``.

    Raises:
        ValueError: The flag names no model id (only commas).
    """
    if values is None:
        return None
    model_ids = [model_id for value in values for model_id in value.split(",") if model_id]
    if not model_ids:
        raise ValueError(f"--models {' '.join(values)!r} names no model id")
    return model_ids


def _out_path(out: str, overwrite: bool) -> Path:
    """The file to write, checked before anything is read."""
    path = Path(out)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--out {out!r} must end in .hdf5 or .h5 (rsatoolbox tells its file types by suffix)")
    if path.is_dir():
        raise ValueError(f"--out {out!r} is a folder; name the file to write")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{out!r} already exists; pass --overwrite to replace it")
    return path


def _models_with_layer(store: Store, model_ids: Sequence[str], layer: str, named: bool) -> list[str]:
    """The models among ``model_ids`` that have the role ``layer``.

    Raises:
        ValueError: A named model lacks the role, or no model has it (naming the nearest roles).
    """
    from storage.identity import layer_read

    documents = store.model_documents(model_ids)
    having = [model_id for model_id in model_ids if layer_read(documents[model_id], layer) is not None]
    lacking = [model_id for model_id in model_ids if model_id not in having]
    if having and not (named and lacking):
        return having
    model_id = lacking[0]
    roles = list(documents[model_id].get("layers") or ())
    close = difflib.get_close_matches(layer, roles, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"its layers: {', '.join(roles)}"
    whose = f"model {model_id!r}" if named else f"model {model_id!r} (no registered model has it)"
    raise ValueError(f"unknown layer {layer!r} for {whose}; {hint}")


def _export_rdms(store: Store, probe_id: str, layer: str, model_ids: list[str] | None):
    from storage.rsatoolbox_io import rdms_to_rsatoolbox

    having = _models_with_layer(store, choose_models(store, model_ids), layer, named=model_ids is not None)
    rdms = rdms_to_rsatoolbox(store, probe_id, layer, model_ids)
    exported = list(rdms.rdm_descriptors["model_id"])
    left_out = [model_id for model_id in having if model_id not in exported]
    if left_out:
        print(f"left out {len(left_out)} model(s) with no complete RDM for layer {layer!r}: {', '.join(left_out)}; "
              f"compute them with `rsa-ray similarity --layer {layer}`", file=sys.stderr)
    shown = ", ".join(exported[:5]) + (f", ... ({len(exported)} in all)" if len(exported) > 5 else "")
    return rdms, f"{rdms.n_rdm} RDM(s) of layer {layer!r} ({shown}) over {rdms.n_cond} probe images"


def _export_similarity(store: Store, probe_id: str, layer: str, version: int | None):
    from storage.rsatoolbox_io import similarity_to_rsatoolbox

    _models_with_layer(store, choose_models(store, None), layer, named=False)
    rdms = similarity_to_rsatoolbox(store, probe_id, layer, version)
    return rdms, (f"similarity version {rdms.descriptors['similarity_version']} of layer {layer!r} as one RDM "
                  f"({rdms.dissimilarity_measure}) between {rdms.n_cond} models")


def run(args: argparse.Namespace) -> int:
    similarity = args.similarity or args.similarity_version is not None
    model_ids = _model_list(args.models)
    if similarity and model_ids is not None:
        raise ValueError("--models chooses RDMs to export; --similarity exports a similarity version whole "
                         "(leave out --models)")
    out = _out_path(args.out, args.overwrite)
    store = open_store(args.store)
    probe_id = choose_probe(store, args.probe)
    if similarity:
        rdms, what = _export_similarity(store, probe_id, args.layer, args.similarity_version)
    else:
        rdms, what = _export_rdms(store, probe_id, args.layer, model_ids)
    from storage.rsatoolbox_io import write_rsatoolbox_file

    try:
        written = write_rsatoolbox_file(rdms, out, overwrite=args.overwrite)
    except FileExistsError:  # appeared while the RDMs were read
        raise FileExistsError(f"{args.out!r} already exists; pass --overwrite to replace it") from None
    print(f"wrote {what} of probe set {probe_id} to {written}")
    return 0


SUBCOMMAND = Subcommand("export-rdms", "write a layer's RDMs, or its model similarity, as an rsatoolbox HDF5 file",
                        add_arguments, run)
