"""Random scene parameters for the mini-Taskonomy renderer.

A scene is a box-shaped room (floor, four walls, ceiling) seen from a camera
inside it, holding 1-4 objects of several shape classes that rest on the floor,
lit by one point light. Every scene is drawn from its own generator seeded by
``(seed, scene_index)``, so a scene does not depend on how a dataset is chunked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Object shape classes, in label order.
SHAPE_CLASSES: tuple[str, ...] = ("sphere", "ellipsoid", "box", "cylinder")
#: Room surface classes, in label order; object classes follow them.
ROOM_CLASSES: tuple[str, ...] = ("floor", "wall", "ceiling")
#: Per-pixel semantic classes: the room surfaces, then the object shapes.
SEMANTIC_CLASSES: tuple[str, ...] = ROOM_CLASSES + SHAPE_CLASSES
#: Surface texture patterns.
TEXTURES: tuple[str, ...] = ("plain", "checker", "stripes", "waves")
MAX_OBJECTS = 4


@dataclass(frozen=True)
class RendererConfig:
    """How mini-Taskonomy scenes are drawn and rendered.

    Attributes:
        image_size: Height and width of every image, in pixels.
        field_of_view: Vertical field of view in radians.
        min_objects: Fewest objects in a scene (>= 1).
        max_objects: Most objects in a scene (<= 4).
        occlusion_jump: Relative depth jump between neighbouring pixels of two
            different surfaces above which they form an occlusion edge.
        visible_fraction: Fraction of the image an object must cover to count as visible (``object_count``):
            1 % (41 pixels at 64×64), so that a sliver behind another object is not a count to guess.
        noise_std: Standard deviation of the denoising task's Gaussian noise (on [0, 1]).
    """

    image_size: int = 64
    field_of_view: float = 1.05
    min_objects: int = 1
    max_objects: int = MAX_OBJECTS
    occlusion_jump: float = 0.08
    visible_fraction: float = 0.01
    noise_std: float = 0.1

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects <= MAX_OBJECTS:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}, "
                f"got min_objects={self.min_objects}, max_objects={self.max_objects}"
            )
        if not 0.0 <= self.visible_fraction < 1.0:
            raise ValueError(f"visible_fraction must be in [0, 1), got {self.visible_fraction}")
        if not 0.1 < self.field_of_view < 3.0:
            raise ValueError(f"field_of_view must be in (0.1, 3.0) radians, got {self.field_of_view}")

    @property
    def visible_pixels(self) -> int:
        """Pixels an object must cover to count as visible (at least 1).

        Example:
            >>> RendererConfig(image_size=64).visible_pixels
            41
        """
        return max(1, math.ceil(self.visible_fraction * self.image_size**2))


@dataclass(frozen=True)
class SceneParameters:
    """The parameters of a batch of B scenes, as arrays (objects padded to 4 slots).

    Attributes:
        room_size: [B, 3] half-width, height and half-depth of the room.
        camera_position: [B, 3] camera centre in world coordinates (y up).
        camera_yaw: [B] rotation about the vertical axis (radians).
        camera_pitch: [B] elevation of the viewing direction (negative looks down).
        light_position: [B, 3] point light position.
        ambient: [B] ambient light fraction.
        object_active: [B, 4] which object slots hold an object.
        object_class: [B, 4] index into :data:`SHAPE_CLASSES`.
        object_centre: [B, 4, 3] object centres (the base centre for cylinders, which stand on the floor).
        object_size: [B, 4, 3] radii / half extents / (radius, height, radius).
        object_yaw: [B, 4] rotation of each object about the vertical axis.
        object_colours: [B, 4, 2, 3] the two colours of each object's texture.
        object_texture: [B, 4] index into :data:`TEXTURES`.
        object_frequency: [B, 4] texture frequency (cycles per unit length).
        floor_colours: [B, 2, 3] checkerboard colours of the floor.
        floor_tile: [B] floor tile size.
        wall_colours: [B, 2, 3] colours of the walls' texture.
        wall_texture: [B] index into :data:`TEXTURES` for the walls.
        ceiling_colour: [B, 3].
    """

    room_size: np.ndarray
    camera_position: np.ndarray
    camera_yaw: np.ndarray
    camera_pitch: np.ndarray
    light_position: np.ndarray
    ambient: np.ndarray
    object_active: np.ndarray
    object_class: np.ndarray
    object_centre: np.ndarray
    object_size: np.ndarray
    object_yaw: np.ndarray
    object_colours: np.ndarray
    object_texture: np.ndarray
    object_frequency: np.ndarray
    floor_colours: np.ndarray
    floor_tile: np.ndarray
    wall_colours: np.ndarray
    wall_texture: np.ndarray
    ceiling_colour: np.ndarray

    @property
    def n_scenes(self) -> int:
        """Number of scenes in the batch."""
        return int(self.room_size.shape[0])


def _object_size(rng: np.random.Generator, shape_class: int) -> np.ndarray:
    scale = rng.uniform(0.3, 0.7)
    stretch = rng.uniform(0.6, 1.4, size=3)
    if SHAPE_CLASSES[shape_class] == "sphere":
        return np.full(3, scale)
    if SHAPE_CLASSES[shape_class] == "cylinder":
        radius = scale * stretch[0]
        return np.array([radius, 2.0 * scale * stretch[1], radius])
    return scale * stretch


def _one_scene(rng: np.random.Generator, config: RendererConfig) -> dict[str, np.ndarray]:
    room = np.array([rng.uniform(3.0, 4.5), rng.uniform(2.5, 3.5), rng.uniform(3.0, 4.5)])
    camera = np.array(
        [rng.uniform(-0.5, 0.5) * room[0], rng.uniform(0.8, 1.8), rng.uniform(0.4, 0.85) * room[2]]
    )
    yaw, pitch = rng.uniform(-0.5, 0.5), rng.uniform(-0.45, -0.1)
    n_objects = int(rng.integers(config.min_objects, config.max_objects + 1))
    scene: dict[str, np.ndarray] = {
        "room_size": room,
        "camera_position": camera,
        "camera_yaw": np.array(yaw),
        "camera_pitch": np.array(pitch),
        "light_position": np.array(
            [rng.uniform(-0.8, 0.8) * room[0], rng.uniform(0.6, 0.95) * room[1], rng.uniform(-0.8, 0.8) * room[2]]
        ),
        "ambient": np.array(rng.uniform(0.15, 0.35)),
        "object_active": np.arange(MAX_OBJECTS) < n_objects,
        "object_class": rng.integers(0, len(SHAPE_CLASSES), size=MAX_OBJECTS),
        "object_centre": np.zeros((MAX_OBJECTS, 3)),
        "object_size": np.ones((MAX_OBJECTS, 3)),
        "object_yaw": rng.uniform(0.0, np.pi, size=MAX_OBJECTS),
        "object_colours": rng.uniform(0.1, 1.0, size=(MAX_OBJECTS, 2, 3)),
        "object_texture": rng.integers(0, len(TEXTURES), size=MAX_OBJECTS),
        "object_frequency": rng.uniform(1.5, 5.0, size=MAX_OBJECTS),
        "floor_colours": rng.uniform(0.2, 0.9, size=(2, 3)),
        "floor_tile": np.array(rng.uniform(0.3, 0.8)),
        "wall_colours": rng.uniform(0.3, 0.95, size=(2, 3)),
        "wall_texture": np.array(rng.integers(0, len(TEXTURES))),
        "ceiling_colour": rng.uniform(0.7, 0.95, size=3),
    }
    half_fov = 0.5 * config.field_of_view
    for slot in range(MAX_OBJECTS):
        size = _object_size(rng, int(scene["object_class"][slot]))
        # Objects stand in front of the camera, within the horizontal field of view.
        heading = yaw + rng.uniform(-0.7, 0.7) * half_fov
        distance = rng.uniform(1.5, 3.5)
        margin = 0.7
        x = np.clip(camera[0] - distance * np.sin(heading), -room[0] + margin, room[0] - margin)
        z = np.clip(camera[2] - distance * np.cos(heading), -room[2] + margin, room[2] - margin)
        base = 0.0 if SHAPE_CLASSES[int(scene["object_class"][slot])] == "cylinder" else size[1]
        scene["object_centre"][slot] = (x, base, z)
        scene["object_size"][slot] = size
    return scene


def sample_scenes(seed: int, first_index: int, n_scenes: int, config: RendererConfig) -> SceneParameters:
    """Draws scenes ``first_index .. first_index + n_scenes - 1`` of the dataset ``seed``.

    Args:
        seed: Dataset seed (a non-negative integer).
        first_index: Index of the first scene.
        n_scenes: How many consecutive scenes to draw.
        config: Renderer settings.

    Returns:
        The scenes' parameters as batched arrays.

    Raises:
        ValueError: If ``seed`` or ``first_index`` is negative or ``n_scenes < 1``.

    Example:
        >>> sample_scenes(0, 0, 2, RendererConfig()).n_scenes
        2
    """
    if seed < 0 or first_index < 0:
        raise ValueError(f"seed and first_index must be >= 0, got seed={seed}, first_index={first_index}")
    if n_scenes < 1:
        raise ValueError(f"n_scenes must be >= 1, got {n_scenes}")
    scenes = [
        _one_scene(np.random.default_rng([seed, index]), config)
        for index in range(first_index, first_index + n_scenes)
    ]
    return SceneParameters(**{key: np.stack([scene[key] for scene in scenes]) for key in scenes[0]})
