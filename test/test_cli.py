"""The pose-reloc command line: a clean `error:` line for bad input, real output for good input.
(The parser's shape, help text and shared flags: test_cli_parser.py.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from onnx_models import fake_posenet_model, mean_colour_model

from pose_reloc.onnx_session import load_model
from pose_reloc.tools.cli import main

ROOT = Path(__file__).resolve().parents[1]


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


def test_record_accuracy_stores_figures_in_the_model_and_its_card(tmp_path):
    model = fake_posenet_model(tmp_path / "m.onnx")
    metrics = tmp_path / "eval.json"
    metrics.write_text(json.dumps({"median_translation_m": 3.5, "frames": 10}))
    assert main(["record-accuracy", str(model), str(metrics)]) == 0
    assert load_model(model, ["cpu"]).metadata.extra["accuracy"]["median_translation_m"] == 3.5
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["accuracy"] == {"median_translation_m": 3.5, "frames": 10}
    assert card["task"] == "posenet" and "intended_use" in card
    metrics.write_text("{not json")
    assert main(["record-accuracy", str(model), str(metrics)]) == 1


def test_the_console_script_names_main():
    script = re.search(r'^pose-reloc = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert script is not None
    module, _, function = script[1].partition(":")
    assert getattr(import_module(module), function) is main


def test_python_dash_m_runs_the_command():
    result = subprocess.run(
        [sys.executable, "-m", "pose_reloc.tools.cli", "evaluate", "fusion", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: pose-reloc evaluate fusion")
    assert "--providers" in result.stdout


def test_a_bad_command_line_is_a_usage_error(capsys):
    for argv in ([], ["evaluate"], ["synth", "--scene", "s.yaml"], ["model-info", "m", "--nope"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert "usage: pose-reloc" in capsys.readouterr().err


def test_build_map_reads_every_drive_given_each_with_its_stride(tmp_path, monkeypatch):
    import vo_fusion.build_map
    from pose_reloc.datasets.record import Frame
    from pose_reloc.geometry import Transform

    drives = {"august": 5, "may": 4}
    monkeypatch.setattr(
        "pose_reloc.datasets.read_dataset",
        lambda path: iter(
            Frame(float(i), None, Transform.identity(), lambda: None, f"{path}/{i}")
            for i in range(drives[str(path)])
        ),
    )
    seen = []

    class Built:
        points_world = ()
        descriptor_type = "orb"
        metadata: dict = {}  # noqa: RUF012 (one map per test)

        def save(self, path, with_observations):
            seen.append(("saved", path, with_observations))

    def fake_build_map(frames, **settings):
        seen.extend(frame.source for frame in frames)
        return Built()

    monkeypatch.setattr(vo_fusion.build_map, "build_map", fake_build_map)
    out = str(tmp_path / "m.npz")
    assert main(["build-map", "--data", "august", "may", "--stride", "2", "--out", out]) == 0
    assert seen == ["august/0", "august/2", "august/4", "may/0", "may/2", ("saved", out, True)]
    assert Built.metadata == {"site": ""}  # neither drive has a dataset.yaml that names one
