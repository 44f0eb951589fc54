"""A procedural city from a scene config: a street grid, buildings on lots, trees, poles and parked
vehicles (all axis-aligned boxes, so exact geometry queries are cheap), and their textures.

World frame = map frame: x east, y north, z up (ENU when location.yaw_to_enu_deg is 0), origin at
the city centre, ground at z = 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from pose_reloc.synth import textures
from pose_reloc.synth.config import SceneConfig

LAYOUT_SIZE = (1024, 256)  # width, height of every layer of the layout texture array
GROUND_TEXTURE_SIZE = 2048
GROUND_MARGIN_M = 30.0  # the outer ring of buildings stands in this margin
PAINT_YELLOW, PAINT_WHITE = (210, 180, 40), (225, 225, 220)  # road markings, RGB


@dataclass(frozen=True)
class Box:
    """An axis-aligned box standing on or above the ground."""

    x0: float
    y0: float
    x1: float
    y1: float
    z0: float
    z1: float
    kind: str  # building, pole, trunk, canopy, vehicle, cabin
    layout_layer: int  # layer of the layout texture array its walls use
    detail: str  # detail material name
    roof_layer: int = -1  # layout layer of the top face (-1: same as the walls)

    @property
    def bounds(self) -> NDArray[np.float64]:
        return np.array([[self.x0, self.y0, self.z0], [self.x1, self.y1, self.z1]])


@dataclass
class City:
    config: SceneConfig
    boxes: list[Box]
    street_x: NDArray[np.float64]  # x of north-south street centre lines
    street_y: NDArray[np.float64]  # y of east-west street centre lines
    half_extent: float  # the city spans [-half_extent, half_extent] in x and y (before margin)
    half_extent_y: float
    layout_layers: list[NDArray[np.uint8]] = field(default_factory=list)
    ground_texture: NDArray[np.uint8] = field(default_factory=lambda: np.zeros((1, 1, 3), np.uint8))

    @property
    def ground_extent(self) -> tuple[float, float, float, float]:
        """x0, y0, x1, y1 covered by the ground texture."""
        m = GROUND_MARGIN_M
        return (
            -self.half_extent - m,
            -self.half_extent_y - m,
            self.half_extent + m,
            self.half_extent_y + m,
        )

    def box_array(self) -> NDArray[np.float64]:
        """(N, 2, 3) lower/upper corners of every box, for vectorized geometry queries."""
        return np.stack([b.bounds for b in self.boxes])

    def clearance(self, points_xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        """Distance from each point to the nearest box (0 inside one)."""
        boxes = self.box_array()
        p = np.asarray(points_xyz, float).reshape(-1, 1, 3)
        per_axis = np.maximum(np.maximum(boxes[None, :, 0] - p, p - boxes[None, :, 1]), 0.0)
        return np.asarray(np.linalg.norm(per_axis, axis=-1).min(axis=1), dtype=np.float64)

    def on_street(self, xy: NDArray[np.float64], margin: float = 0.0) -> NDArray[np.bool_]:
        """Whether points lie on a street (between the kerbs), at least `margin` from its edges."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        half = self.config.city.street_width / 2 - margin
        near_x = np.abs(xy[:, :1] - self.street_x[None]).min(axis=1) <= half
        near_y = np.abs(xy[:, 1:2] - self.street_y[None]).min(axis=1) <= half
        inside = (np.abs(xy[:, 0]) <= self.half_extent) & (np.abs(xy[:, 1]) <= self.half_extent_y)
        return (near_x | near_y) & inside

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Distance along each ray to the first box it enters (inf where it hits none): slab method."""
        boxes = self.box_array()
        o = np.asarray(origins, float)[:, None, :]
        d = np.asarray(directions, float)[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t0 = (boxes[None, :, 0] - o) * inv
            t1 = (boxes[None, :, 1] - o) * inv
        near = np.nanmax(np.minimum(t0, t1), axis=-1)
        far = np.nanmin(np.maximum(t0, t1), axis=-1)
        hit = (far >= np.maximum(near, 0.0)) & (far > 1e-6)
        distance = np.where(hit, np.maximum(near, 0.0), np.inf)
        return np.asarray(distance.min(axis=1), dtype=np.float64)


def build_city(config: SceneConfig) -> City:
    rng = np.random.default_rng(config.seed)
    c = config.city
    pitch = c.block_size + c.street_width
    width_x = c.blocks_x * c.block_size + (c.blocks_x + 1) * c.street_width
    width_y = c.blocks_y * c.block_size + (c.blocks_y + 1) * c.street_width
    street_x = (
        -width_x / 2 + c.street_width / 2 + pitch * np.arange(c.blocks_x + 1, dtype=np.float64)
    )
    street_y = (
        -width_y / 2 + c.street_width / 2 + pitch * np.arange(c.blocks_y + 1, dtype=np.float64)
    )
    city = City(config, [], street_x, street_y, width_x / 2, width_y / 2)
    shared = _shared_layers(rng)
    city.layout_layers = [layer for layer, _ in shared.values()]
    layer_of = {name: i for i, name in enumerate(shared)}
    for bx in range(c.blocks_x):
        for by in range(c.blocks_y):
            x0 = street_x[bx] + c.street_width / 2
            y0 = street_y[by] + c.street_width / 2
            _add_block(city, rng, (x0, y0, x0 + c.block_size, y0 + c.block_size), layer_of)
    _add_outer_ring(city, rng, layer_of)
    boxes = len(city.boxes)
    _add_parked_vehicles(city, rng, layer_of)
    if c.vehicles_seed is not None:  # elsewhere, the rest of the city as it was
        del city.boxes[boxes:]
        _add_parked_vehicles(city, np.random.default_rng([config.seed, c.vehicles_seed]), layer_of)
    city.ground_texture = _ground_texture(city, rng)
    return city


def _shared_layers(rng: np.random.Generator) -> dict[str, tuple[NDArray[np.uint8], str]]:
    def layer(colour: tuple[int, int, int], contrast: float = 0.3) -> NDArray[np.uint8]:
        small = textures.solid(colour, rng, 64, contrast)
        return np.asarray(cv2.resize(small, LAYOUT_SIZE, interpolation=cv2.INTER_CUBIC), np.uint8)

    layers = {
        "roof": (layer((120, 115, 110), 0.5), "roof"),
        "foliage": (layer((60, 110, 45), 0.9), "leaves"),
        "bark": (layer((90, 70, 50), 0.6), "bark"),
        "pole": (layer((110, 115, 120), 0.2), "metal"),
        "window": (layer((40, 50, 60), 0.3), "metal"),
    }
    for i, paint in enumerate(
        [(170, 30, 30), (30, 60, 150), (220, 220, 215), (30, 30, 30), (200, 170, 40), (90, 140, 90)]
    ):
        layers[f"paint{i}"] = (layer(paint, 0.2), "metal")
    return layers


def _add_block(
    city: City,
    rng: np.random.Generator,
    area: tuple[float, float, float, float],
    layer_of: dict[str, int],
) -> None:
    c = city.config.city
    x0, y0, x1, y1 = area
    inner = (
        x0 + c.sidewalk_width,
        y0 + c.sidewalk_width,
        x1 - c.sidewalk_width,
        y1 - c.sidewalk_width,
    )
    n = c.lots_per_side
    cuts_x = np.sort(np.concatenate([[inner[0], inner[2]], rng.uniform(inner[0], inner[2], n - 1)]))
    cuts_y = np.sort(np.concatenate([[inner[1], inner[3]], rng.uniform(inner[1], inner[3], n - 1)]))
    for i in range(n):
        for j in range(n):
            lot = (cuts_x[i], cuts_y[j], cuts_x[i + 1], cuts_y[j + 1])
            if min(lot[2] - lot[0], lot[3] - lot[1]) < 4.0 or rng.random() < 0.1:
                continue
            setback = rng.uniform(0.0, 1.2, 4) * np.array([i == 0, j == 0, i == n - 1, j == n - 1])
            gap = 0.6  # between neighbouring buildings
            bx0 = lot[0] + setback[0] + (gap if i > 0 else 0)
            by0 = lot[1] + setback[1] + (gap if j > 0 else 0)
            bx1, by1 = lot[2] - setback[2], lot[3] - setback[3]
            height = float(rng.uniform(*c.building_height))
            _add_building(city, rng, (bx0, by0, bx1, by1), height, layer_of["roof"])
    _add_street_furniture(city, rng, area, layer_of)


def _add_building(
    city: City,
    rng: np.random.Generator,
    footprint: tuple[float, float, float, float],
    height: float,
    roof_layer: int,
) -> None:
    """A building with its own façade texture (a new layout layer) on a footprint x0, y0, x1, y1."""
    x0, y0, x1, y1 = footprint
    facade = textures.facade(rng, 2 * ((x1 - x0) + (y1 - y0)), height)
    layer = cv2.resize(facade, LAYOUT_SIZE, interpolation=cv2.INTER_AREA)
    city.layout_layers.append(np.asarray(layer, np.uint8))
    detail = str(rng.choice(["brick", "concrete", "plaster"]))
    box = Box(
        x0, y0, x1, y1, 0.0, height, "building", len(city.layout_layers) - 1, detail, roof_layer
    )
    city.boxes.append(box)


def _add_outer_ring(city: City, rng: np.random.Generator, layer_of: dict[str, int]) -> None:
    """Buildings lining the far side of the outer streets, so views out of the city see a skyline."""
    c = city.config.city
    near = c.street_width / 2 + c.sidewalk_width
    ex, ey = city.half_extent, city.half_extent_y
    sides = [  # (fixed coordinate, axis along which the row runs, outward sign)
        (city.street_y[0] - near, "x", -1.0),
        (city.street_y[-1] + near, "x", 1.0),
        (city.street_x[0] - near, "y", -1.0),
        (city.street_x[-1] + near, "y", 1.0),
    ]
    for fixed, axis, outward in sides:
        span = ex if axis == "x" else ey
        position = -span - near
        while position < span + near:
            length = float(rng.uniform(8.0, 18.0))
            depth = float(rng.uniform(8.0, 14.0))
            a0, a1 = position, min(position + length, span + near)
            b0, b1 = sorted((fixed, fixed + outward * depth))
            x0, y0, x1, y1 = (a0, b0, a1, b1) if axis == "x" else (b0, a0, b1, a1)
            height = float(rng.uniform(c.building_height[0], c.building_height[1] * 1.3))
            _add_building(city, rng, (x0, y0, x1, y1), height, layer_of["roof"])
            position = a1 + float(rng.uniform(0.5, 3.0))


def _sidewalk_point(
    rng: np.random.Generator, area: tuple[float, float, float, float], inset: float
) -> tuple[float, float]:
    x0, y0, x1, y1 = area
    side = int(rng.integers(0, 4))
    t = float(rng.uniform(0.1, 0.9))
    return [
        (x0 + t * (x1 - x0), y0 + inset),
        (x1 - inset, y0 + t * (y1 - y0)),
        (x0 + t * (x1 - x0), y1 - inset),
        (x0 + inset, y0 + t * (y1 - y0)),
    ][side]


def _add_street_furniture(
    city: City,
    rng: np.random.Generator,
    area: tuple[float, float, float, float],
    layer_of: dict[str, int],
) -> None:
    c = city.config.city
    for _ in range(c.trees_per_block):
        x, y = _sidewalk_point(rng, area, c.sidewalk_width * 0.5)
        top = float(rng.uniform(3.0, 4.5))
        r = float(rng.uniform(1.0, 1.6))
        city.boxes.append(
            Box(x - 0.15, y - 0.15, x + 0.15, y + 0.15, 0.0, top, "trunk", layer_of["bark"], "bark")
        )
        city.boxes.append(
            Box(
                x - r,
                y - r,
                x + r,
                y + r,
                top - 0.2,
                top + float(rng.uniform(1.5, 3.0)),
                "canopy",
                layer_of["foliage"],
                "leaves",
            )
        )
    for _ in range(c.poles_per_block):
        x, y = _sidewalk_point(rng, area, 0.35)
        city.boxes.append(
            Box(
                x - 0.09,
                y - 0.09,
                x + 0.09,
                y + 0.09,
                0.0,
                float(rng.uniform(3.5, 6.5)),
                "pole",
                layer_of["pole"],
                "metal",
            )
        )


def _add_parked_vehicles(city: City, rng: np.random.Generator, layer_of: dict[str, int]) -> None:
    c = city.config.city
    kerb_offset = c.street_width / 2 - 1.2
    added = 0
    for _ in range(c.parked_vehicles * 20):
        if added == c.parked_vehicles:
            break
        along_x = bool(rng.integers(0, 2))
        lines = city.street_y if along_x else city.street_x
        centre = float(rng.choice(lines)) + kerb_offset * float(rng.choice([-1.0, 1.0]))
        span = city.half_extent if along_x else city.half_extent_y
        position = float(rng.uniform(-span + 8, span - 8))
        if (
            np.abs((city.street_x if along_x else city.street_y) - position)
            < c.street_width / 2 + 3
        ).any():
            continue  # keep intersections clear
        length, width = float(rng.uniform(3.8, 4.8)), float(rng.uniform(1.7, 1.95))
        x, y = (position, centre) if along_x else (centre, position)
        hx, hy = (length / 2, width / 2) if along_x else (width / 2, length / 2)
        if city.clearance(np.array([[x, y, 0.7]]))[0] < max(hx, hy) + 0.5:
            continue
        paint = layer_of[f"paint{int(rng.integers(0, 6))}"]
        body = float(rng.uniform(0.9, 1.1))
        city.boxes.append(
            Box(x - hx, y - hy, x + hx, y + hy, 0.25, body, "vehicle", paint, "metal")
        )
        shrink = 0.6 * (hx if along_x else hy)
        cx0, cx1 = (
            (x - hx + shrink * 0.6, x + hx - shrink * 0.4)
            if along_x
            else (x - hx + 0.1, x + hx - 0.1)
        )
        cy0, cy1 = (
            (y - hy + 0.1, y + hy - 0.1)
            if along_x
            else (y - hy + shrink * 0.6, y + hy - shrink * 0.4)
        )
        city.boxes.append(
            Box(
                cx0,
                cy0,
                cx1,
                cy1,
                body,
                body + float(rng.uniform(0.45, 0.6)),
                "cabin",
                layer_of["window"],
                "metal",
            )
        )
        added += 1


def _ground_texture(city: City, rng: np.random.Generator) -> NDArray[np.uint8]:
    size = GROUND_TEXTURE_SIZE
    gx0, gy0, gx1, gy1 = city.ground_extent
    scale = size / (gx1 - gx0)

    def px(x: float, y: float) -> tuple[int, int]:  # world -> texture pixel (row 0 = north edge)
        return int((x - gx0) * scale), int((gy1 - y) * scale)

    noise = textures.fractal_noise(rng, (size, size), 6)
    image = textures.tint(noise, (70, 105, 55), 0.8)  # grass
    c = city.config.city
    half_w = c.street_width / 2
    for x in city.street_x:
        cv2.rectangle(
            image,
            px(x - half_w, gy1 - GROUND_MARGIN_M),
            px(x + half_w, gy0 + GROUND_MARGIN_M),
            (0, 0, 0),
            -1,
        )
    for y in city.street_y:
        cv2.rectangle(
            image,
            px(gx0 + GROUND_MARGIN_M, y + half_w),
            px(gx1 - GROUND_MARGIN_M, y - half_w),
            (0, 0, 0),
            -1,
        )
    road = np.all(image == 0, axis=-1)
    asphalt = textures.tint(textures.fractal_noise(rng, (size, size), 6), (75, 75, 78), 0.7)
    image[road] = asphalt[road]
    for bx0 in city.street_x[:-1] + half_w:
        for by0 in city.street_y[:-1] + half_w:
            cv2.rectangle(
                image, px(bx0, by0 + c.block_size), px(bx0 + c.block_size, by0), (150, 148, 140), -1
            )
            w = c.sidewalk_width
            cv2.rectangle(
                image,
                px(bx0 + w, by0 + c.block_size - w),
                px(bx0 + c.block_size - w, by0 + w),
                (95, 110, 70),
                -1,
            )
    _road_markings(city, rng, image, px, scale)
    for _ in range(400):  # stains, patches, manholes: unique features everywhere
        x, y = rng.uniform(gx0, gx1), rng.uniform(gy0, gy1)
        colour = tuple(int(v) for v in rng.integers(30, 200, 3))
        if rng.random() < 0.3:
            cv2.circle(image, px(x, y), int(0.35 * scale), (50, 50, 55), -1)
            cv2.circle(image, px(x, y), int(0.35 * scale), (120, 120, 120), 2)
        else:
            axes = (int(rng.uniform(0.1, 0.8) * scale), int(rng.uniform(0.1, 0.5) * scale))
            cv2.ellipse(image, px(x, y), axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return np.asarray(cv2.GaussianBlur(image, (3, 3), 0.7), np.uint8)


def _road_markings(
    city: City,
    rng: np.random.Generator,
    image: NDArray[np.uint8],
    px: Callable[[float, float], tuple[int, int]],
    scale: float,
) -> None:
    thick = max(1, int(0.12 * scale))
    half_w = city.config.city.street_width / 2
    _centre_lines(city, image, px, thick)
    for x in city.street_x:  # crosswalks on every approach to every intersection
        for y in city.street_y:
            _crosswalks(image, px, x, y, half_w)
    for _ in range(40):  # painted words on the road
        x = float(rng.choice(city.street_x)) + float(rng.uniform(-half_w + 1, half_w - 3))
        y = float(rng.uniform(-city.half_extent_y, city.half_extent_y))
        word = textures.random_word(rng)
        cv2.putText(
            image, word, px(x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.02 * scale, PAINT_WHITE, thick
        )


def _centre_lines(
    city: City,
    image: NDArray[np.uint8],
    px: Callable[[float, float], tuple[int, int]],
    thick: int,
) -> None:
    """Dashed yellow lines along every street, stopping short of the intersections."""
    clear = city.config.city.street_width / 2 + 1.5
    for x in city.street_x:
        for y in np.arange(-city.half_extent_y, city.half_extent_y, 3.0):
            if np.abs(city.street_y - y).min() > clear:
                cv2.line(image, px(x, y), px(x, y + 1.5), PAINT_YELLOW, thick)
    for y in city.street_y:
        for x in np.arange(-city.half_extent, city.half_extent, 3.0):
            if np.abs(city.street_x - x).min() > clear:
                cv2.line(image, px(x, y), px(x + 1.5, y), PAINT_YELLOW, thick)


def _crosswalks(
    image: NDArray[np.uint8],
    px: Callable[[float, float], tuple[int, int]],
    x: float,
    y: float,
    half_w: float,
) -> None:
    """Zebra stripes across the four approaches of the intersection at (x, y)."""
    for k in np.arange(-half_w + 0.8, half_w - 0.5, 1.0):
        for corner_a, corner_b in (
            ((x + k, y + half_w + 2.5), (x + k + 0.5, y + half_w + 0.5)),
            ((x + k, y - half_w - 0.5), (x + k + 0.5, y - half_w - 2.5)),
            ((x + half_w + 0.5, y + k + 0.5), (x + half_w + 2.5, y + k)),
            ((x - half_w - 2.5, y + k + 0.5), (x - half_w - 0.5, y + k)),
        ):
            cv2.rectangle(image, px(*corner_a), px(*corner_b), PAINT_WHITE, -1)
