"""Vectorised ray casting of mini-Taskonomy scenes (numpy only).

One primary ray per pixel, intersected analytically with the room's six planes
and with each object slot (sphere, ellipsoid, oriented box, upright cylinder);
the nearest hit gives the pixel's geometry, material and Lambertian shading.
All scenes of a batch are cast at once as ``[B, P]`` arrays (``P`` pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.datasets.scene_sampling import (
    ROOM_CLASSES,
    SHAPE_CLASSES,
    TEXTURES,
    RendererConfig,
    SceneParameters,
)

_EPS = 1e-6
_N_ROOM_FACES = 6
_FLOOR, _WALL, _CEILING = (ROOM_CLASSES.index(name) for name in ("floor", "wall", "ceiling"))


@dataclass(frozen=True)
class GeometryBuffers:
    """Per-pixel results of casting a batch of scenes, each ``[B, H, W, ...]``.

    Attributes:
        image: Shaded colour in [0, 1], [B, H, W, 3].
        depth: Distance along the camera's viewing axis (z-buffer depth), > 0.
        normal_camera: Unit surface normals in camera coordinates (x right, y up,
            z towards the viewer), [B, H, W, 3].
        view_cosine: Cosine between the normal and the direction to the camera.
        curvature: Mean curvature magnitude of the surface at the hit (1 / length).
        surface_id: 0-5 for the room's faces, 6 + slot for objects.
        semantic: Index into :data:`SEMANTIC_CLASSES`.
        world_to_camera: [B, 3, 3] rows are the camera's right, up and backward axes.
    """

    image: np.ndarray
    depth: np.ndarray
    normal_camera: np.ndarray
    view_cosine: np.ndarray
    curvature: np.ndarray
    surface_id: np.ndarray
    semantic: np.ndarray
    world_to_camera: np.ndarray


def camera_axes(yaw: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, right and up unit vectors ([B, 3] each) of cameras with the given yaw and pitch.

    Example:
        >>> forward, right, up = camera_axes(np.zeros(1), np.zeros(1))
        >>> forward.tolist(), up.tolist()
        ([[-0.0, 0.0, -1.0]], [[0.0, 1.0, 0.0]])
    """
    forward = np.stack([-np.sin(yaw) * np.cos(pitch), np.sin(pitch), -np.cos(yaw) * np.cos(pitch)], axis=-1)
    right = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], axis=-1)
    return forward, right, np.cross(right, forward)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot product over the last axis (einsum is several times faster than ``sum(a * b, -1)`` for 3-vectors)."""
    return np.einsum("...i,...i->...", a, b)


def _rotate_y(vectors: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotates ``[B, P, 3]`` vectors about the y axis by per-scene ``angle`` [B]."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.stack([cos * x + sin * z, y, -sin * x + cos * z], axis=-1)


def _pattern(coords: np.ndarray, texture: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Texture mix weight in [0, 1] at surface coordinates [N, K] with per-point pattern ids and frequencies [N]."""
    scaled = coords * frequency[:, None]
    weight = np.zeros(coords.shape[0])
    for kind, name in enumerate(TEXTURES):
        chosen = np.flatnonzero(texture == kind)
        if chosen.size == 0 or name == "plain":
            continue
        points = scaled[chosen]
        if name == "checker":
            weight[chosen] = np.floor(points).sum(axis=-1) % 2
        elif name == "stripes":
            weight[chosen] = np.floor(points[:, -1] * 1.5) % 2
        else:
            weight[chosen] = 0.5 + 0.5 * np.prod(np.sin(np.pi * points), axis=-1)
    return weight


def _per_pixel(values: np.ndarray, n_pixels: int) -> np.ndarray:
    """Repeats per-scene values [B, ...] for every pixel, flattened to [B * P, ...]."""
    return np.repeat(values, n_pixels, axis=0)


def _mix(colours: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Blends per-point colour pairs [N, 2, 3] with weights [N] into [N, 3]."""
    return colours[:, 0] * (1.0 - weight[:, None]) + colours[:, 1] * weight[:, None]


def _room_hits(origin, direction, params: SceneParameters):
    """Hits on the inside of the room box: t, normal, face id, semantic class, albedo."""
    low = np.stack([-params.room_size[:, 0], np.zeros(params.n_scenes), -params.room_size[:, 2]], axis=-1)
    high = params.room_size.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t_axes = np.where(
            direction > 0, (high[:, None] - origin) / direction, (low[:, None] - origin) / direction
        )
    t_axes = np.where(np.abs(direction) < _EPS, np.inf, t_axes)
    axis = np.argmin(t_axes, axis=-1)
    t = np.take_along_axis(t_axes, axis[..., None], axis=-1)[..., 0]
    sign = np.sign(np.take_along_axis(direction, axis[..., None], axis=-1)[..., 0])
    normal = -sign[..., None] * np.eye(3)[axis]
    face = 2 * axis + (sign > 0)
    semantic = np.where(axis == 1, np.where(sign < 0, _FLOOR, _CEILING), _WALL)
    point = (origin + t[..., None] * direction).reshape(-1, 3)
    n_pixels = direction.shape[1]
    flat_semantic = semantic.reshape(-1)
    albedo = _per_pixel(params.ceiling_colour, n_pixels)
    floor = np.flatnonzero(flat_semantic == _FLOOR)
    floor_scene = floor // n_pixels
    floor_weight = _pattern(point[floor][:, [0, 2]], np.ones(floor.size, dtype=int), 1.0 / params.floor_tile[floor_scene])
    albedo[floor] = _mix(params.floor_colours[floor_scene], floor_weight)
    wall = np.flatnonzero(flat_semantic == _WALL)
    wall_scene = wall // n_pixels
    horizontal = np.where(axis.reshape(-1)[wall] == 0, point[wall, 2], point[wall, 0])
    wall_coords = np.stack([horizontal, point[wall, 1]], axis=-1)
    wall_weight = _pattern(wall_coords, params.wall_texture[wall_scene], np.full(wall.size, 1.2))
    albedo[wall] = _mix(params.wall_colours[wall_scene], wall_weight)
    albedo = albedo.reshape(direction.shape)
    return t, normal, face, semantic, albedo


def _ellipsoid(local_origin, local_direction, size):
    axes = size[:, None]
    o, d = local_origin / axes, local_direction / axes
    a = _dot(d, d)
    b = 2.0 * _dot(o, d)
    c = _dot(o, o) - 1.0
    disc = b * b - 4 * a * c
    t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a), np.inf)
    t = np.where(t > _EPS, t, np.inf)
    point = local_origin + np.where(np.isfinite(t), t, 0.0)[..., None] * local_direction
    normal = point / axes**2
    # Mean curvature of x²/a² + y²/b² + z²/c² = 1 (exact; 1/r for a sphere).
    a2 = axes**2
    h = np.sqrt(_dot(point**2, 1.0 / a2**2))
    curvature = np.abs(_dot(point, point) - a2.sum(axis=-1)) / (2.0 * np.prod(a2, axis=-1) * h**3 + _EPS)
    return t, normal, curvature, point


def _box(local_origin, local_direction, size):
    half = size[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - local_origin) / local_direction
        t2 = (half - local_origin) / local_direction
    t_near_axes = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf)
    t_far = np.nan_to_num(np.maximum(t1, t2), nan=np.inf).min(axis=-1)
    axis = np.argmax(t_near_axes, axis=-1)
    t_near = np.take_along_axis(t_near_axes, axis[..., None], axis=-1)[..., 0]
    t = np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.inf)
    sign = np.sign(np.take_along_axis(local_direction, axis[..., None], axis=-1)[..., 0])
    normal = -sign[..., None] * np.eye(3)[axis]
    point = local_origin + np.where(np.isfinite(t), t, 0.0)[..., None] * local_direction
    return t, normal, np.zeros_like(t), point


def _cylinder(local_origin, local_direction, size):
    radius, height = size[:, None, 0], size[:, None, 1]
    ox, oy, oz = local_origin[..., 0], local_origin[..., 1], local_origin[..., 2]
    dx, dy, dz = local_direction[..., 0], local_direction[..., 1], local_direction[..., 2]
    a = dx * dx + dz * dz
    b = 2.0 * (ox * dx + oz * dz)
    c = ox * ox + oz * oz - radius * radius
    disc = b * b - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = np.where((disc >= 0) & (a > _EPS), (-b - np.sqrt(np.maximum(disc, 0.0))) / (2 * a), np.inf)
        y_side = oy + t_side * dy
        t_side = np.where((t_side > _EPS) & (y_side >= 0) & (y_side <= height), t_side, np.inf)
        t_cap = np.where(np.abs(dy) > _EPS, (height - oy) / dy, np.inf)
    cap_x, cap_z = ox + t_cap * dx, oz + t_cap * dz
    t_cap = np.where((t_cap > _EPS) & (cap_x**2 + cap_z**2 <= radius**2), t_cap, np.inf)
    on_cap = t_cap < t_side
    t = np.minimum(t_side, t_cap)
    point = local_origin + np.where(np.isfinite(t), t, 0.0)[..., None] * local_direction
    side_normal = np.stack([point[..., 0], np.zeros_like(t), point[..., 2]], axis=-1)
    normal = np.where(on_cap[..., None], np.array([0.0, 1.0, 0.0]), side_normal)
    curvature = np.where(on_cap, 0.0, 0.5 / radius)
    return t, normal, curvature, point


_SHAPE_INTERSECTORS = {
    "sphere": _ellipsoid,
    "ellipsoid": _ellipsoid,
    "box": _box,
    "cylinder": _cylinder,
}


def _object_hits(origin, direction, params: SceneParameters, slot: int):
    """Hits on object ``slot`` of every scene: t (inf on a miss), world normal, curvature, local hit point."""
    yaw = params.object_yaw[:, slot]
    local_origin = _rotate_y(origin - params.object_centre[:, None, slot], -yaw)
    local_direction = _rotate_y(direction, -yaw)
    size = params.object_size[:, slot]
    t = np.full(direction.shape[:2], np.inf)
    normal = np.zeros(direction.shape)
    curvature = np.zeros(direction.shape[:2])
    point = np.zeros(direction.shape)
    for class_index, shape in enumerate(SHAPE_CLASSES):
        scenes = np.flatnonzero(params.object_active[:, slot] & (params.object_class[:, slot] == class_index))
        if scenes.size == 0:
            continue
        hit = _SHAPE_INTERSECTORS[shape](local_origin[scenes], local_direction[scenes], size[scenes])
        t[scenes], normal[scenes], curvature[scenes], point[scenes] = hit
    normal = _rotate_y(normal, yaw)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), _EPS)
    return t, normal, curvature, point


def _object_albedo(point: np.ndarray, closer: np.ndarray, params: SceneParameters, slot: int) -> np.ndarray:
    """Textured colour [N, 3] of object ``slot`` at the pixels where it is the nearest surface."""
    scene = np.nonzero(closer)[0]
    weight = _pattern(point[closer], params.object_texture[scene, slot], params.object_frequency[scene, slot])
    return _mix(params.object_colours[scene, slot], weight)


def cast_scenes(params: SceneParameters, config: RendererConfig) -> GeometryBuffers:
    """Renders a batch of scenes: colour image and per-pixel geometry.

    Args:
        params: The scenes, from :func:`~rsa_ray.datasets.scene_sampling.sample_scenes`.
        config: Renderer settings (image size and field of view are used).

    Returns:
        The per-pixel buffers.

    Example:
        >>> from rsa_ray.datasets.scene_sampling import sample_scenes
        >>> config = RendererConfig(image_size=16)
        >>> cast_scenes(sample_scenes(0, 0, 2, config), config).depth.shape
        (2, 16, 16)
    """
    size, batch = config.image_size, params.n_scenes
    forward, right, up = camera_axes(params.camera_yaw, params.camera_pitch)
    tan_half = np.tan(0.5 * config.field_of_view)
    centres = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    grid_y, grid_x = np.meshgrid(-centres * tan_half, centres * tan_half, indexing="ij")
    direction = (
        forward[:, None] + grid_x.reshape(1, -1, 1) * right[:, None] + grid_y.reshape(1, -1, 1) * up[:, None]
    )
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    origin = params.camera_position[:, None, :]

    t, normal, surface_id, semantic, albedo = _room_hits(origin, direction, params)
    curvature = np.zeros_like(t)
    for slot in range(params.object_active.shape[1]):
        t_obj, n_obj, c_obj, local_point = _object_hits(origin, direction, params, slot)
        closer = t_obj < t
        t = np.where(closer, t_obj, t)
        normal = np.where(closer[..., None], n_obj, normal)
        albedo[closer] = _object_albedo(local_point, closer, params, slot)
        curvature = np.where(closer, c_obj, curvature)
        surface_id = np.where(closer, _N_ROOM_FACES + slot, surface_id)
        semantic = np.where(closer, len(ROOM_CLASSES) + params.object_class[:, None, slot], semantic)

    point = origin + t[..., None] * direction
    to_light = params.light_position[:, None] - point
    to_light /= np.linalg.norm(to_light, axis=-1, keepdims=True)
    diffuse = np.clip(_dot(normal, to_light), 0.0, 1.0)
    ambient = params.ambient[:, None]
    image = np.clip(albedo * (ambient + (1.0 - ambient) * diffuse)[..., None], 0.0, 1.0)
    world_to_camera = np.stack([right, up, -forward], axis=1)
    normal_camera = np.einsum("bij,bpj->bpi", world_to_camera, normal)

    def grid(values: np.ndarray) -> np.ndarray:
        return values.reshape((batch, size, size) + values.shape[2:])

    return GeometryBuffers(
        image=grid(image),
        depth=grid(t * _dot(direction, forward[:, None])),
        normal_camera=grid(normal_camera),
        view_cosine=grid(np.clip(-_dot(normal, direction), 0.0, 1.0)),
        curvature=grid(curvature),
        surface_id=grid(surface_id.astype(np.int16)),
        semantic=grid(semantic.astype(np.uint8)),
        world_to_camera=world_to_camera,
    )

