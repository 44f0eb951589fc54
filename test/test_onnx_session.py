"""ONNX session factory: providers, metadata, preprocessing, and every way a model can be unusable."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import mean_colour_model

from pose_reloc.errors import ModelLoadError, PoseRelocError
from pose_reloc.mc_model import McSampleModel
from pose_reloc.onnx_session import (
    InputSpec,
    ModelMetadata,
    load_model,
    read_opsets,
    resolve_providers,
)


def test_provider_list_is_filtered_to_what_exists_in_priority_order():
    assert resolve_providers(["tensorrt", "cuda", "cpu"]) == ["CPUExecutionProvider"]
    with pytest.raises(ModelLoadError, match="none of the requested"):
        resolve_providers(["TensorrtExecutionProvider"])


def test_loaded_model_reports_metadata_providers_and_runs(tmp_path):
    model = load_model(mean_colour_model(tmp_path / "m.onnx"), providers=["cuda", "cpu"], threads=1)
    assert model.providers == ["CPUExecutionProvider"]
    assert (model.metadata.task, model.metadata.input.width, model.metadata.input.height) == (
        "test",
        8,
        6,
    )
    assert model.metadata.extra["mc_samples"] == 1
    red = np.zeros((6, 8, 3), np.uint8)
    red[..., 0] = 255
    batch = model.metadata.input.preprocess([red, np.zeros_like(red)])
    assert batch.shape == (2, 3, 6, 8) and batch.dtype == np.float32
    out = model.run(batch)["channel_means"]
    # (pixel / 255 - 0.5) / 0.25: red channel 1 -> 2, others 0 -> -2.
    np.testing.assert_allclose(out, [[2.0, -2.0, -2.0], [-2.0, -2.0, -2.0]], atol=1e-6)


def test_sessions_do_not_spin_their_threads_after_a_run(tmp_path):
    """Spinning pool threads took the 2 cores from the numpy work after PoseNet in the prior
    node (the retrieval search: 0.7 -> 13 ms)."""
    model = load_model(mean_colour_model(tmp_path / "m.onnx"), providers=["cpu"], threads=2)
    options = model.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_metadata_round_trips_through_json():
    meta = ModelMetadata(
        "posenet",
        InputSpec("image", 224, 224, "BGR", (0.1, 0.2, 0.3), (1, 2, 3), True),
        {"pose": "xyz+q"},
        {"frame": "map"},
    )
    again = ModelMetadata.from_json(meta.to_json(), "x.onnx")
    assert again == meta


def test_missing_file_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(
        ModelLoadError, match=r"missing\.onnx does not exist; point the model parameter"
    ):
        load_model(tmp_path / "missing.onnx", providers=["cpu"])


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelLoadError, match=r"corrupt.onnx is not a valid ONNX model"):
        load_model(path, providers=["cpu"])


def test_truncated_file(tmp_path):
    path = mean_colour_model(tmp_path / "t.onnx")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelLoadError, match=r"t.onnx"):
        load_model(path, providers=["cpu"])


def test_unsupported_opset(tmp_path):
    with pytest.raises(ModelLoadError, match=r"opset \{'ai.onnx': 99\} .*re-export with opset 17"):
        load_model(mean_colour_model(tmp_path / "op.onnx", opset=99), providers=["cpu"])


def test_opsets_are_read_from_the_protobuf_as_onnx_reads_them(tmp_path):
    """The nodes need only onnxruntime: the opset hint parses the file itself, not with `onnx`."""
    import onnx

    path = mean_colour_model(tmp_path / "m.onnx", opset=13)
    model = onnx.load(str(path))
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 300))
    onnx.save(model, str(path))
    expected = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path)).opset_import}
    assert read_opsets(path) == expected == {"ai.onnx": 13, "com.microsoft": 300}
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_opsets(path)


def test_model_without_metadata_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no 'pose_reloc' metadata"):
        load_model(mean_colour_model(tmp_path / "bare.onnx", metadata=False), providers=["cpu"])


def test_metadata_that_does_not_match_the_graph_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match=r"input shape .* metadata says Nx3x6x8"):
        load_model(mean_colour_model(tmp_path / "mismatch.onnx", graph_width=10), providers=["cpu"])


def test_config_input_size_mismatch_says_what_to_set(tmp_path):
    with pytest.raises(
        ModelLoadError, match=r"input 1x3x6x8 but the config says 128x128: set the input size"
    ):
        load_model(
            mean_colour_model(tmp_path / "m.onnx"),
            providers=["cpu"],
            expected_input_size=(128, 128),
        )


def test_wrong_task_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="is a 'test' model, this node needs 'posenet'"):
        load_model(
            mean_colour_model(tmp_path / "m.onnx"), providers=["cpu"], expected_task="posenet"
        )


def test_tensorrt_runs_fp16_with_an_engine_cache_from_the_environment(monkeypatch, tmp_path):
    from pose_reloc.onnx_session import tensorrt_defaults

    monkeypatch.setenv("POSE_RELOC_TRT_CACHE", str(tmp_path / "engines"))
    options = tensorrt_defaults()["TensorrtExecutionProvider"]
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path / "engines")
    monkeypatch.delenv("POSE_RELOC_TRT_CACHE")
    assert tensorrt_defaults()["TensorrtExecutionProvider"]["trt_engine_cache_path"].endswith(
        "pose_reloc/tensorrt"
    )


def sampled_model(path, dropout_live=True, mc_samples=4):
    """mean_colour_model (output `channel_means`, 3 per sample) with MC-dropout metadata."""
    metadata = ModelMetadata(
        task="test",
        input=InputSpec("image", 8, 6, "RGB", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        outputs={"channel_means": "per-channel mean"},
        extra={"mc_samples": mc_samples, "dropout_live": dropout_live},
    )
    return mean_colour_model(path, metadata=metadata)


def test_mc_model_takes_the_asked_sample_count_else_the_models_and_one_without_dropout(tmp_path):
    path = sampled_model(tmp_path / "live.onnx", mc_samples=4)
    widths = {"channel_means": 3}
    assert McSampleModel(path, "test", widths, ["cpu"]).samples == 4
    assert McSampleModel(path, "test", widths, ["cpu"], samples=9).samples == 9
    zero = sampled_model(tmp_path / "zero.onnx", mc_samples=0)
    assert McSampleModel(zero, "test", widths, ["cpu"]).samples == 1, "at least one sample"
    frozen = sampled_model(tmp_path / "frozen.onnx", dropout_live=False)
    model = McSampleModel(frozen, "test", widths, ["cpu"], samples=9)
    assert model.samples == 1 and not model.dropout_live


def test_mc_model_runs_every_sample_in_one_call_with_one_row_each(tmp_path):
    model = McSampleModel(
        sampled_model(tmp_path / "m.onnx"), "test", {"channel_means": 3}, ["cpu"], samples=5
    )
    assert model.input_size == (8, 6)
    assert model.preprocess(np.zeros((12, 16, 3), np.uint8)).shape == (1, 3, 6, 8)
    red = np.zeros((12, 16, 3), np.uint8)
    red[..., 0] = 255
    rows, elapsed_ms = model.run(red)
    assert rows["channel_means"].shape == (5, 3) and rows["channel_means"].dtype == np.float64
    np.testing.assert_allclose(rows["channel_means"], [[1.0, 0.0, 0.0]] * 5, atol=1e-6)
    assert elapsed_ms > 0


def test_mc_model_refuses_a_model_missing_an_output_or_of_the_wrong_width_or_task(tmp_path):
    path = sampled_model(tmp_path / "m.onnx")
    with pytest.raises(ModelLoadError, match=r"m\.onnx must output 'sun' with 3 floats per sample"):
        McSampleModel(path, "test", {"sun": 3}, ["cpu"])
    with pytest.raises(ModelLoadError, match="must output 'channel_means' with 4 floats"):
        McSampleModel(path, "test", {"channel_means": 4}, ["cpu"])
    with pytest.raises(ModelLoadError, match="is a 'test' model, this node needs 'posenet'"):
        McSampleModel(path, "posenet", {"channel_means": 3}, ["cpu"])


def test_mc_model_refuses_a_run_returning_the_wrong_number_of_samples(tmp_path, monkeypatch):
    path = sampled_model(tmp_path / "m.onnx")
    model = McSampleModel(path, "test", {"channel_means": 3}, ["cpu"])
    monkeypatch.setattr(
        model.model, "run_samples", lambda image, n: ({"channel_means": np.zeros((n - 1, 3))}, 1.0)
    )
    with pytest.raises(PoseRelocError, match=r"returned \(3, 3\) of 'channel_means' for 4 samples"):
        model.run(np.zeros((6, 8, 3), np.uint8))
