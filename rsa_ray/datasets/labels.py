"""Task labels derived from rendered geometry: image-space filters and scene-level values.

Every function takes batched arrays ``[B, H, W, ...]`` from
:func:`~rsa_ray.datasets.raycast.cast_scenes` and returns one label per scene.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rsa_ray.datasets.scene_sampling import MAX_OBJECTS, SceneParameters

_LUMA = np.array([0.299, 0.587, 0.114])
_HARRIS_K = 0.05
_HARRIS_SIGMA = 1.2


def luminance(image: np.ndarray) -> np.ndarray:
    """Luma of RGB images [B, H, W, 3] in [0, 1] → [B, H, W].

    Example:
        >>> round(float(luminance(np.ones((1, 2, 2, 3)))[0, 0, 0]), 6)
        1.0
    """
    return image @ _LUMA


def _sobel(maps: np.ndarray, axis: int) -> np.ndarray:
    """Sobel derivative of [B, H, W] maps along spatial ``axis``, smoothing only along the other
    spatial axis (``ndimage.sobel`` would also smooth across the batch axis and mix images)."""
    other = 2 if axis == 1 else 1
    derivative = ndimage.correlate1d(maps, [-1.0, 0.0, 1.0], axis=axis, mode="reflect")
    return ndimage.correlate1d(derivative, [1.0, 2.0, 1.0], axis=other, mode="reflect")


def _gradients(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel gradients along rows and columns of [B, H, W] maps, scaled so a unit step gives 1."""
    return _sobel(maps, 1) / 4.0, _sobel(maps, 2) / 4.0


def edges_2d(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the image's luminance (texture and object edges alike), [B, H, W].

    Example:
        >>> step = np.zeros((1, 4, 4, 3)); step[:, :, 2:] = 1.0
        >>> round(float(edges_2d(step)[0, 1, 1]), 6)
        1.0
    """
    gy, gx = _gradients(luminance(image))
    return np.sqrt(gx**2 + gy**2)


def _harris(gradient_pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Harris corner response from a structure tensor summed over channels, scaled to [0, 1] per image."""
    sigma = (0.0, _HARRIS_SIGMA, _HARRIS_SIGMA)
    sxx = ndimage.gaussian_filter(sum(gx * gx for gy, gx in gradient_pairs), sigma)
    syy = ndimage.gaussian_filter(sum(gy * gy for gy, gx in gradient_pairs), sigma)
    sxy = ndimage.gaussian_filter(sum(gx * gy for gy, gx in gradient_pairs), sigma)
    response = np.maximum(sxx * syy - sxy**2 - _HARRIS_K * (sxx + syy) ** 2, 0.0)
    peak = response.reshape(response.shape[0], -1).max(axis=1)
    return response / np.maximum(peak, 1e-12)[:, None, None]


def keypoints_2d(image: np.ndarray) -> np.ndarray:
    """Harris corner response of the luminance, scaled to [0, 1] per image, [B, H, W]."""
    return _harris([_gradients(luminance(image))])


def keypoints_3d(depth: np.ndarray, normal_camera: np.ndarray) -> np.ndarray:
    """Harris response of the geometry (normals and relative depth), scaled to [0, 1] per image.

    Responds to 3D corners (box vertices, cylinder rims, object-floor contacts),
    not to texture.
    """
    relative_depth = depth / depth.mean(axis=(1, 2), keepdims=True)
    channels = [relative_depth] + [normal_camera[..., c] for c in range(3)]
    return _harris([_gradients(channel) for channel in channels])


def occlusion_edges(depth: np.ndarray, surface_id: np.ndarray, jump: float) -> np.ndarray:
    """Pixels next to a different surface that is farther or nearer by more than ``jump`` (relative).

    A pixel is an occlusion edge when one of its 4-neighbours lies on another
    surface and ``|d - d_n| / min(d, d_n) > jump``. Contacts (an object on the
    floor) and room corners have no depth jump, so they are not edges.

    Example:
        >>> depth = np.ones((1, 3, 3)); depth[:, :, 2] = 2.0
        >>> ids = np.zeros((1, 3, 3), int); ids[:, :, 2] = 1
        >>> occlusion_edges(depth, ids, 0.1)[0].astype(int).tolist()
        [[0, 1, 1], [0, 1, 1], [0, 1, 1]]
    """
    edges = np.zeros(depth.shape, dtype=bool)
    for axis in (1, 2):
        near = [slice(None)] * 3
        far = [slice(None)] * 3
        near[axis], far[axis] = slice(None, -1), slice(1, None)
        d0, d1 = depth[tuple(near)], depth[tuple(far)]
        jumps = (np.abs(d0 - d1) / np.minimum(d0, d1) > jump) & (surface_id[tuple(near)] != surface_id[tuple(far)])
        edges[tuple(near)] |= jumps
        edges[tuple(far)] |= jumps
    return edges


def visible_object_pixels(surface_id: np.ndarray) -> np.ndarray:
    """Pixel count of each object slot, [B, 4] (surface ids 6 + slot)."""
    n_room_faces = 6
    flat = surface_id.reshape(surface_id.shape[0], -1).astype(np.int64) - n_room_faces
    counts = np.zeros((surface_id.shape[0], MAX_OBJECTS), dtype=np.int64)
    for slot in range(MAX_OBJECTS):
        counts[:, slot] = (flat == slot).sum(axis=1)
    return counts


def object_labels(params: SceneParameters, surface_id: np.ndarray, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Class of the most visible object and the number of visible objects (>= ``min_pixels``) per scene.

    Returns:
        ``(largest_class [B] int64, visible_count [B] int64)``; a scene with no
        visible object reports the class of slot 0 and a count of 0.
    """
    pixels = visible_object_pixels(surface_id)
    largest_slot = np.argmax(pixels, axis=1)
    largest_class = params.object_class[np.arange(params.n_scenes), largest_slot].astype(np.int64)
    return largest_class, (pixels >= min_pixels).sum(axis=1).astype(np.int64)


def camera_pose(params: SceneParameters) -> np.ndarray:
    """Camera pose as 6 normalised values per scene: x, y, z, sin yaw, cos yaw, pitch, [B, 6]."""
    position = params.camera_position
    return np.stack(
        [
            position[:, 0] / params.room_size[:, 0],
            (position[:, 1] - 1.3) / 0.5,
            position[:, 2] / params.room_size[:, 2],
            np.sin(params.camera_yaw),
            np.cos(params.camera_yaw),
            params.camera_pitch,
        ],
        axis=1,
    )


def vanishing_directions(world_to_camera: np.ndarray) -> np.ndarray:
    """The room's three axis directions (its vanishing directions) in camera coordinates, [B, 9]."""
    return world_to_camera.transpose(0, 2, 1).reshape(world_to_camera.shape[0], 9)
