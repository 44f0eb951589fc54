"""Procedural textures for the synthetic city: every façade unique (windows, signage, posters), the
ground a street map with markings, and small tiled detail materials (brick, asphalt grain, …) that
add texture at close range. All deterministic from a numpy Generator; RGB uint8 arrays."""

from __future__ import annotations

import string

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

Image = NDArray[np.uint8]

# Detail materials, one array layer each; sampled in world metres (DETAIL_TILE_M per tile).
DETAIL_MATERIALS = (
    "brick",
    "concrete",
    "plaster",
    "asphalt",
    "pavers",
    "grass",
    "bark",
    "leaves",
    "metal",
    "roof",
)
DETAIL_TILE_M = 2.0
DETAIL_SIZE = 256
# RGB wall colours of real streets: brick reds, sandstone, beige, greys, white, muted paints.
WALL_PALETTE = (
    (150, 75, 55),
    (170, 95, 70),
    (120, 60, 45),
    (200, 180, 140),
    (215, 200, 170),
    (180, 175, 165),
    (140, 140, 135),
    (225, 222, 215),
    (110, 115, 120),
    (190, 160, 110),
    (160, 170, 150),
    (130, 150, 170),
)


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], octaves: int = 5, tileable: bool = False
) -> NDArray[np.float32]:
    """Value noise in [0, 1] summed over octaves (coarse to fine). Tileable noise (for textures
    repeated across a surface) needs sides divisible by 2 ** (octaves + 1)."""
    height, width = shape
    total = np.zeros(shape, np.float32)
    weight_sum = 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        grid = rng.random((cells, cells)).astype(np.float32)
        weight = 0.55**octave
        if tileable:
            cell_h, cell_w = height // cells, width // cells
            padded = np.pad(grid, 2, mode="wrap")
            big = cv2.resize(
                padded, (cell_w * (cells + 4), cell_h * (cells + 4)), interpolation=cv2.INTER_CUBIC
            )
            total += weight * big[2 * cell_h : 2 * cell_h + height, 2 * cell_w : 2 * cell_w + width]
        else:
            total += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        weight_sum += weight
    return np.clip(total / weight_sum, 0.0, 1.0)


def tint(noise: NDArray[np.float32], colour: tuple[int, int, int], contrast: float) -> Image:
    shade = 1.0 + contrast * (noise[..., None] - 0.5)
    return np.clip(np.asarray(colour, np.float32) * shade, 0, 255).astype(np.uint8)


def detail_material(name: str, rng: np.random.Generator, size: int = DETAIL_SIZE) -> Image:
    """A grey-ish multiplier texture (mean about 128) for one material."""
    noise = fractal_noise(rng, (size, size), tileable=True)
    if name == "brick":
        image = tint(noise, (150, 150, 150), 0.5)
        rows, brick_h = 8, size // 8
        for row in range(rows + 1):
            y = row * brick_h
            cv2.line(image, (0, y), (size, y), (80, 80, 80), 3)
            offset = brick_h if row % 2 else 0
            for x in range(offset, size + brick_h * 2, brick_h * 2):
                cv2.line(image, (x, y), (x, y + brick_h), (80, 80, 80), 3)
        return image
    if name == "pavers":
        image = tint(noise, (140, 140, 140), 0.4)
        for i in range(0, size, size // 4):
            cv2.line(image, (i, 0), (i, size), (90, 90, 90), 2)
            cv2.line(image, (0, i), (size, i), (90, 90, 90), 2)
        return image
    grain = {"asphalt": 1.2, "concrete": 0.6, "plaster": 0.35, "grass": 1.0, "bark": 1.1}
    grain |= {"leaves": 1.3, "metal": 0.25, "roof": 0.7}
    fine = gaussian_filter(rng.random((size, size)).astype(np.float32), 1.0, mode="wrap")
    fine = (fine - fine.min()) / max(float(np.ptp(fine)), 1e-6)
    mixed = 0.6 * noise + 0.4 * fine
    return tint(mixed, (128, 128, 128), grain[name])


def random_word(rng: np.random.Generator) -> str:
    letters = string.ascii_uppercase + string.digits
    return "".join(rng.choice(list(letters), size=int(rng.integers(3, 8))))


def _sign(image: Image, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int) -> None:
    """A signage-like patch: a coloured panel, a border, a word and a shape — unique per call."""
    colour = tuple(int(c) for c in rng.integers(20, 235, 3))
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, -1)
    ink = tuple(255 - c for c in colour)
    cv2.rectangle(image, (x0, y0), (x1, y1), ink, 2)
    height = y1 - y0
    scale = max(0.3, height / 40.0)
    cv2.putText(
        image,
        random_word(rng),
        (x0 + 4, y0 + int(height * 0.7)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        ink,
        2,
    )
    cx = int(rng.integers(x0, max(x0 + 1, x1)))
    cv2.circle(image, (cx, y0 + height // 2), max(2, height // 4), ink, -1)


def facade(
    rng: np.random.Generator, perimeter_m: float, height_m: float, px_per_m: float = 12.0
) -> Image:
    """The unrolled walls of one building: wall colour, floors of windows, shop signs at street level,
    posters and stains. Width follows the perimeter, height the building height."""
    width = int(np.clip(perimeter_m * px_per_m, 64, 2048))
    height = int(np.clip(height_m * px_per_m, 32, 512))
    base = WALL_PALETTE[int(rng.integers(0, len(WALL_PALETTE)))]
    r, g, b = (int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in base)
    wall = (r, g, b)
    image = tint(fractal_noise(rng, (height, width), 4), wall, 0.35)
    floor_h = px_per_m * float(rng.uniform(2.9, 3.6))
    bay_w = px_per_m * float(rng.uniform(2.2, 4.0))
    _windows(image, rng, wall, floor_h, bay_w)
    _shop_fronts(image, rng, floor_h, bay_w, px_per_m)
    _stains(image, rng, wall)
    return np.asarray(cv2.GaussianBlur(image, (3, 3), 0.6), dtype=np.uint8)


def _windows(
    image: Image, rng: np.random.Generator, wall: tuple[int, int, int], floor_h: float, bay_w: float
) -> None:
    """A floor line and a row of windows (some missing, some with blinds) on every upper floor."""
    height, width = image.shape[:2]
    win_w, win_h = bay_w * rng.uniform(0.45, 0.75), floor_h * rng.uniform(0.4, 0.6)
    glass_base = rng.integers(20, 90, 3)
    for floor in range(1, int(height // floor_h)):
        y_bottom = height - floor * floor_h  # image rows grow downwards; v = 0 is the roof line
        cv2.line(
            image, (0, int(y_bottom)), (width, int(y_bottom)), tuple(int(c * 0.7) for c in wall), 2
        )
        for bay in range(int(width // bay_w)):
            if rng.random() < 0.08:
                continue
            x0 = int(bay * bay_w + (bay_w - win_w) / 2)
            y0 = int(y_bottom - floor_h + (floor_h - win_h) / 2)
            glass = tuple(int(c) for c in np.clip(glass_base + rng.integers(-20, 60, 3), 0, 255))
            cv2.rectangle(image, (x0, y0), (x0 + int(win_w), y0 + int(win_h)), glass, -1)
            cv2.rectangle(image, (x0, y0), (x0 + int(win_w), y0 + int(win_h)), (230, 230, 225), 2)
            if rng.random() < 0.4:  # blinds half down
                cv2.rectangle(
                    image,
                    (x0 + 2, y0 + 2),
                    (x0 + int(win_w) - 2, y0 + int(win_h * rng.uniform(0.2, 0.7))),
                    tuple(int(c) for c in rng.integers(150, 250, 3)),
                    -1,
                )


def _shop_fronts(
    image: Image, rng: np.random.Generator, floor_h: float, bay_w: float, px_per_m: float
) -> None:
    """Along the ground floor: shops with a sign and a door, shop windows, or posters."""
    height, width = image.shape[:2]
    street = int(height - floor_h)
    x = int(rng.integers(0, int(bay_w)))
    while x < width - 20:
        shop_w = int(px_per_m * rng.uniform(3, 8))
        kind = rng.random()
        right = min(width - 1, x + shop_w)
        if kind < 0.45:
            _sign(image, rng, x, street + 4, right, street + int(floor_h * 0.3))
            door = (x + shop_w // 3, street + int(floor_h * 0.35))
            cv2.rectangle(
                image, door, (door[0] + int(px_per_m * 1.1), height - 1), (40, 35, 30), -1
            )
        elif kind < 0.75:
            cv2.rectangle(
                image,
                (x, street + int(floor_h * 0.3)),
                (right, height - int(floor_h * 0.1)),
                tuple(int(c) for c in rng.integers(10, 80, 3)),
                -1,
            )
            right = min(width - 1, x + shop_w - 3)
            _sign(image, rng, x + 3, street + 3, right, street + int(floor_h * 0.25))
        else:
            for _ in range(int(rng.integers(1, 4))):  # posters
                px, py = (
                    x + int(rng.integers(0, max(1, shop_w - 20))),
                    street + int(rng.integers(8, int(floor_h * 0.5))),
                )
                _sign(image, rng, px, py, px + int(px_per_m * 0.8), py + int(px_per_m * 1.1))
        x += shop_w + int(rng.integers(4, 30))


def _stains(image: Image, rng: np.random.Generator, wall: tuple[int, int, int]) -> None:
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(3, 9))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.ellipse(
            image,
            (cx, cy),
            (int(rng.integers(4, 30)), int(rng.integers(4, 20))),
            float(rng.uniform(0, 180)),
            0,
            360,
            tuple(int(c * 0.75) for c in wall),
            -1,
        )


def solid(
    colour: tuple[int, int, int], rng: np.random.Generator, size: int = 64, contrast: float = 0.3
) -> Image:
    return tint(fractal_noise(rng, (size, size), 3), colour, contrast)
