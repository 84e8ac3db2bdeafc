"""Procedural RGB-D rooms with exact metric depth, ray-cast analytically in numpy.

A scene is an axis-aligned room (floor, ceiling, four walls) holding a few axis-aligned boxes
standing on the floor, seen by a pinhole camera inside it (random position, yaw and pitch).
Every pixel's ray is intersected with the room's planes and the boxes' slabs in closed form;
depth is the camera z-distance of the nearest hit (exact, no rasterisation error). Colours:
a per-surface base colour, a checker texture in world coordinates, Lambert shading.

Two named distributions let a recipe show adaptation: ``A`` (small rooms, normal lens, warm
palette) and ``B`` (larger rooms, wide lens, cool palette, finer texture).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset


@dataclass(frozen=True)
class SceneDistribution:
    """Ranges each scene is drawn from (metres; focal as a fraction of the image width)."""

    room_width: tuple[float, float]
    room_length: tuple[float, float]
    room_height: tuple[float, float]
    focal: tuple[float, float]
    n_boxes: tuple[int, int]
    box_size: tuple[float, float]
    palette: tuple[tuple[int, int, int], ...]
    checker: float  # texture period in metres


DISTRIBUTIONS: dict[str, SceneDistribution] = {
    "A": SceneDistribution(room_width=(2.5, 4.0), room_length=(2.5, 4.5), room_height=(2.2, 2.8),
                           focal=(0.8, 1.0), n_boxes=(1, 3), box_size=(0.3, 0.9),
                           palette=((200, 120, 80), (220, 190, 140), (150, 90, 60), (230, 210, 170)),
                           checker=0.5),
    "B": SceneDistribution(room_width=(4.5, 7.0), room_length=(5.5, 8.5), room_height=(2.8, 3.6),
                           focal=(0.5, 0.65), n_boxes=(2, 4), box_size=(0.5, 1.4),
                           palette=((80, 120, 200), (140, 190, 220), (60, 90, 150), (170, 210, 230)),
                           checker=0.3),
}


def _slab(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray / axis-aligned box: (entry t, entry axis) per ray; t = inf where missed. dirs: N x 3."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t1, t2 = (lo - origin) * inv, (hi - origin) * inv
    t_min, t_max = np.minimum(t1, t2), np.maximum(t1, t2)
    t_near, t_far = np.nanmax(t_min, axis=1), np.nanmin(t_max, axis=1)
    hit = (t_near <= t_far) & (t_near > 1e-6)
    return np.where(hit, t_near, np.inf), np.nanargmax(t_min, axis=1)


def raycast(cam: np.ndarray, yaw: float, pitch: float, focal: float, room: np.ndarray,
            boxes: list[tuple[np.ndarray, np.ndarray]], height: int,
            width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact z-depth of every pixel: the nearest of the room's inside faces (room = [w, h, l],
    the box [0, room]) and the boxes' ``(lo, hi)`` corners, for a camera at ``cam`` turned by
    ``yaw`` (about y) then ``pitch`` (about x). Returns flat ``H*W`` arrays: depth, surface id
    (0 floor, 1 ceiling, 2 side wall, 3 front/back wall, 4+ box), hit-face axis, and ``H*W x 3`` points."""
    # Camera rays with z-component 1 in camera space: the ray parameter t IS the z-depth.
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    d_cam = np.stack([(u + 0.5 - width / 2) / focal, -(v + 0.5 - height / 2) / focal, np.ones_like(u)], -1)
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    rot = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    dirs = d_cam.reshape(-1, 3) @ rot.T

    # Room: the exit point of each ray from the inside of the box.
    with np.errstate(divide="ignore"):
        t_axes = np.where(dirs > 0, (room - cam) / dirs, (0.0 - cam) / dirs)
    t_axes[dirs == 0] = np.inf
    depth, axis = t_axes.min(1), t_axes.argmin(1)
    surface = np.where(axis == 1, np.where(dirs[:, 1] > 0, 1, 0), np.where(axis == 0, 2, 3))
    normal_axis = axis.copy()
    for b, (lo, hi) in enumerate(boxes):
        t, ax = _slab(cam, dirs, lo, hi)
        closer = t < depth
        depth = np.where(closer, t, depth)
        surface = np.where(closer, 4 + b % 3, surface)
        normal_axis = np.where(closer, ax, normal_axis)
    return depth, surface, normal_axis, cam + dirs * depth[:, None]


def render_scene(rng: np.random.Generator, dist: SceneDistribution, height: int,
                 width: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One scene: (rgb ``H x W x 3`` uint8, depth ``H x W`` float32 metres, focal in pixels)."""
    w, length, h = (rng.uniform(*dist.room_width), rng.uniform(*dist.room_length), rng.uniform(*dist.room_height))
    cam = np.array([rng.uniform(0.3, w - 0.3), rng.uniform(1.0, min(1.8, h - 0.3)), rng.uniform(0.2, 0.6)])
    yaw, pitch = rng.uniform(-0.35, 0.35), rng.uniform(-0.25, 0.1)
    focal = rng.uniform(*dist.focal) * width
    boxes = []
    for _ in range(rng.integers(dist.n_boxes[0], dist.n_boxes[1] + 1)):
        sx, sy, sz = rng.uniform(*dist.box_size, size=3)
        x0, z0 = rng.uniform(0.0, max(w - sx, 0.1)), rng.uniform(1.2, max(length - sz, 1.3))
        boxes.append((np.array([x0, 0.0, z0]), np.array([x0 + sx, sy, z0 + sz])))
    room = np.array([w, h, length])
    depth, surface, normal_axis, points = raycast(cam, yaw, pitch, focal, room, boxes, height, width)

    palette = np.array(dist.palette + ((210, 210, 210), (120, 160, 100), (180, 80, 120)), dtype=np.float64)
    order = rng.permutation(4)  # which palette colour goes to floor / ceiling / walls this scene
    base = palette[np.where(surface < 4, order[np.minimum(surface, 3)], surface)]
    checker = (np.floor(points / dist.checker).astype(np.int64).sum(1) % 2) * 0.25 + 0.75
    light = np.array([0.4, 0.8, -0.45]) / np.linalg.norm([0.4, 0.8, -0.45])
    shade = 0.45 + 0.55 * np.abs(light[normal_axis])
    rgb = base * (checker * shade)[:, None] + rng.normal(0, 4.0, size=base.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8).reshape(height, width, 3)
    return rgb, depth.reshape(height, width).astype(np.float32), float(focal)


class SyntheticDepthDataset(Dataset):
    """``n`` scenes of a named distribution, each rendered on demand from ``(seed, index)`` so the
    same index is always the same scene. Items: ``{"rgb": H x W x 3 uint8, "depth": H x W float32,
    "id": str}``; the task applies its transforms on top (see ``DepthTask``)."""

    def __init__(self, n: int, distribution: str = "A", height: int = 84, width: int = 112, seed: int = 0):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"synthetic distribution {distribution!r}: expected one of {sorted(DISTRIBUTIONS)}")
        if n <= 0:
            raise ValueError(f"synthetic dataset size {n}: must be positive")
        self.n, self.dist, self.name = n, DISTRIBUTIONS[distribution], distribution
        self.height, self.width, self.seed = height, width, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        rgb, depth, _ = render_scene(rng, self.dist, self.height, self.width)
        return {"rgb": rgb, "depth": depth, "id": f"synthetic{self.name}_{self.seed}_{index:05d}"}
