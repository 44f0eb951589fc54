"""Training (torch, an optional extra: `pip install .[train]`): networks, losses, data, export.

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
