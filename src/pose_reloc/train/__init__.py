"""Training (torch, an optional extra: `pip install .[train]`): the layers and data both networks
share. Each network trains in its own package (`pose_reloc.posenet.train`, `sun_bcnn.train`);
`pose_reloc.tools.export` turns a checkpoint into the ONNX model the nodes load.

Nothing here is imported at run time; nodes and evaluation use the exported ONNX models only.
"""


def require_torch() -> None:
    """Raise a clear error when torch is missing (it is not needed to run the nodes)."""
    import importlib.util

    from pose_reloc.errors import PoseRelocError

    if importlib.util.find_spec("torch") is None:
        raise PoseRelocError(
            "training needs torch, an optional extra: pip install 'pose_reloc[train]' "
            "(here: .venv/bin/pip install torch==2.13.0)"
        )
