"""`pose-reloc set-site FILE SITE`: name the site a map, retrieval index or PoseNet model was made
for, where it was made before they carried one (pose_reloc.site_identity)."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from pose_reloc.tools.cli.common import Commands, add_command


def add_parser(commands: Commands) -> None:
    parser = add_command(
        commands,
        "set-site",
        "name the site of a feature map, retrieval index or PoseNet model made before they "
        "carried one",
    )
    parser.add_argument("file", help="a feature map or retrieval index (.npz), or a model (.onnx)")
    parser.add_argument("site", help="the site's name, as the nodes' `site` parameter gives it")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.errors import PoseRelocError

    path = Path(args.file)
    if not args.site:
        raise PoseRelocError("the site's name must not be empty")
    if not path.is_file():
        raise PoseRelocError(f"{path} does not exist")
    if path.suffix == ".onnx":
        from pose_reloc.model_card import record_site

        card = record_site(path, args.site)
        print(f"wrote site {args.site!r} into {path} and {card}")
        return 0
    kind = _npz_kind(path)
    if kind == "map":
        from vo_fusion.feature_map import FeatureMap

        feature_map = FeatureMap.load(path)
        feature_map.metadata["site"] = args.site
        feature_map.save(path, with_observations=len(feature_map.observations) > 0)
    else:
        from pose_reloc.posenet.retrieval import RetrievalIndex

        index = RetrievalIndex.load(path)
        index.info["site"] = args.site
        index.save(path)
    print(f"wrote site {args.site!r} into {kind} {path}")
    return 0


def _npz_kind(path: Path) -> str:
    from pose_reloc.errors import PoseRelocError

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise PoseRelocError(f"{path} is not an .npz archive") from None
    if "metadata_json.npy" in names:
        return "map"
    if "pca_mean.npy" in names:
        return "retrieval index"
    raise PoseRelocError(f"{path} is neither a feature map nor a retrieval index")
