"""Dataset readers, one module per format, all yielding `Frame` records (see `record.py`).

`read_dataset(path)` picks the reader from what the path holds; `read_datasets(paths)` reads one
or several (a robot's mapping drives, one after the other).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pose_reloc.datasets.record import DatasetError, Frame

FORMATS = ("synthetic", "rosbag", "kitti", "tum", "seven_scenes", "cambridge")


def detect_format(path: Path) -> str:
    if (path / "dataset.yaml").is_file():
        return "synthetic"
    if path.suffix in (".mcap", ".db3") or (path / "metadata.yaml").is_file():
        return "rosbag"
    if (path / "poses.txt").is_file() and (path / "calib.txt").is_file():
        return "kitti"
    if (path / "groundtruth.txt").is_file() and (path / "rgb.txt").is_file():
        return "tum"
    if any(path.glob("seq-*")):
        return "seven_scenes"
    if path.name.startswith("dataset_") and path.suffix == ".txt":
        return "cambridge"
    raise DatasetError(
        f"cannot tell which dataset format {path} is; name it ({', '.join(FORMATS)})"
    )


def read_dataset(path: str | Path, kind: str = "auto") -> Iterator[Frame]:
    """Frames of any supported dataset (lazily: images are read when a frame's image() is called)."""
    from pose_reloc.datasets import cambridge, kitti, rosbag, seven_scenes, synthetic, tum

    source = Path(path)
    if not source.exists():
        raise DatasetError(f"dataset {source} does not exist")
    kind = detect_format(source) if kind == "auto" else kind
    readers: dict[str, Callable[[Path], Iterator[Frame]]] = {
        "synthetic": synthetic.read_synthetic,
        "rosbag": rosbag.read_rosbag,
        "kitti": kitti.read_kitti,
        "tum": tum.read_tum,
        "seven_scenes": seven_scenes.read_seven_scenes,
        "cambridge": cambridge.read_cambridge,
    }
    if kind not in readers:
        raise DatasetError(f"dataset format {kind!r} is not one of {FORMATS}")
    return readers[kind](source)


def read_datasets(paths: str | Path | Sequence[str | Path]) -> Iterator[Frame]:
    """The frames of one dataset or of several, one after the other."""
    for path in [paths] if isinstance(paths, str | Path) else paths:
        yield from read_dataset(path)
