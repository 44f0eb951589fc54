"""The pose-reloc command line: a clean `error:` line for bad input, real output for good input."""

from __future__ import annotations

import json

from onnx_models import mean_colour_model

from pose_reloc.cli import main


def test_model_info_prints_the_metadata_and_active_provider(tmp_path, capsys):
    assert (
        main(
            [
                "model-info",
                str(mean_colour_model(tmp_path / "m.onnx")),
                "--providers",
                "cuda",
                "cpu",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["providers"] == ["CPUExecutionProvider"]
    assert summary["metadata"]["input"]["width"] == 8
    assert summary["inputs"][0]["shape"] == ["N", 3, 6, 8]


def test_model_info_on_a_corrupt_file_prints_one_error_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nonsense")
    assert main(["model-info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model file") and err.count("\n") == 1


def test_build_map_command_refuses_a_missing_dataset(tmp_path, capsys):
    assert (
        main(["build-map", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m.npz")]) == 1
    )
    assert "does not exist" in capsys.readouterr().err
