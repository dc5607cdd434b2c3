"""MTCNN's face-detection networks (P-, R- and O-Net), from the installed ``facenet-pytorch`` package.

The architectures are read from ``facenet_pytorch.models.mtcnn`` only when one is built;
nothing of that package is copied here. They are built with ``pretrained=False``: the
trained weights come, like any weights, from the entry's checked file (the example zoo
converts the package's ``data/{pnet,rnet,onet}.pt`` to safetensors,
:mod:`rsa_ray.models.real_zoo`).

Input sizes: P-Net is fully convolutional (any size of at least 12 px); R-Net needs 24×24
and O-Net 48×48 inputs (their first dense layer fixes the map size).
"""

from __future__ import annotations

import importlib

from torch import nn

MTCNN_MODULE = "facenet_pytorch.models.mtcnn"
# Registered name -> (class in MTCNN_MODULE, input side in pixels, the layer before the heads).
MTCNN_NETS = {
    "facenet_pytorch.mtcnn.PNet": ("PNet", 12, "prelu3"),
    "facenet_pytorch.mtcnn.RNet": ("RNet", 24, "prelu4"),
    "facenet_pytorch.mtcnn.ONet": ("ONet", 48, "prelu5"),
}


def _mtcnn_module():
    try:
        return importlib.import_module(MTCNN_MODULE)
    except ImportError as error:
        raise ImportError(f"{MTCNN_MODULE} is needed for this model but does not import ({error}); install "
                          "`facenet-pytorch==2.6.0 --no-deps` beside torchvision") from error


def _build(name: str) -> nn.Module:
    class_name, _, _ = MTCNN_NETS[name]
    return getattr(_mtcnn_module(), class_name)(pretrained=False)


def build_mtcnn_pnet() -> nn.Module:
    """MTCNN's proposal network (P-Net), randomly initialised.

    Example:
        >>> build_mtcnn_pnet().conv1.in_channels  # doctest: +SKIP
        3
    """
    return _build("facenet_pytorch.mtcnn.PNet")


def build_mtcnn_rnet() -> nn.Module:
    """MTCNN's refinement network (R-Net, 24×24 inputs), randomly initialised.

    Example:
        >>> build_mtcnn_rnet().dense4.in_features  # doctest: +SKIP
        576
    """
    return _build("facenet_pytorch.mtcnn.RNet")


def build_mtcnn_onet() -> nn.Module:
    """MTCNN's output network (O-Net, 48×48 inputs), randomly initialised.

    Example:
        >>> build_mtcnn_onet().dense5.in_features  # doctest: +SKIP
        1152
    """
    return _build("facenet_pytorch.mtcnn.ONet")
