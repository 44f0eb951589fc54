"""Sun-BCNN training code: losses, networks, export with live MC dropout into SunEstimator, and a
tiny real training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch (the [train] extra) is not installed")

from pose_reloc.tools.export import export_checkpoint  # noqa: E402
from sun_bcnn.inference import SunEstimator  # noqa: E402
from sun_bcnn.train import (  # noqa: E402
    SunTrainConfig,
    batch_loss,
    build_sun_network,
    concentration_loss,
    cosine_loss,
    save_checkpoint,
    train_sun_bcnn,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one thread is as fast, and far faster when other work holds the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def unit_rows(x):
    return x / x.norm(dim=1, keepdim=True)


def test_cosine_loss_is_zero_at_the_truth_and_two_when_opposite():
    truth = unit_rows(torch.tensor([[0.3, -0.5, 0.8], [0.0, 0.0, 1.0]]))
    assert float(cosine_loss(truth, truth)) == pytest.approx(0.0, abs=1e-7)
    assert float(cosine_loss(-truth, truth)) == pytest.approx(2.0, abs=1e-6)
    turned = unit_rows(torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert float(
        cosine_loss(turned, unit_rows(torch.tensor([[0.0, 0.0, 1.0]] * 2)))
    ) == pytest.approx((1 - np.cos(np.pi / 4)) / 2, abs=1e-6)


def test_concentration_loss_is_one_for_agreeing_samples_and_small_for_scattered_ones():
    same = unit_rows(torch.tensor([[0.3, -0.5, 0.8]])).expand(4, 1, 3)
    assert float(concentration_loss(same)) == pytest.approx(1.0, abs=1e-6)
    axes = torch.tensor([[[1.0, 0, 0]], [[-1.0, 0, 0]], [[0, 1.0, 0]], [[0, -1.0, 0]]])
    assert float(concentration_loss(axes)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("arch", ["lite", "googlenet"])
def test_networks_output_unit_vectors_and_dropout_is_live_only_when_asked(arch):
    from pose_reloc.train.layers import set_mc_dropout

    torch.manual_seed(0)
    model = build_sun_network(arch).eval()
    x = torch.randn(3, 3, 48, 64)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 3)
        np.testing.assert_allclose(out.norm(dim=1).numpy(), 1.0, atol=1e-5)
        assert torch.equal(model(x), out), "dropout must be off in eval mode"
        set_mc_dropout(model, True)
        assert not torch.equal(model(x), out)
    assert model.head.dropout.p == {"lite": 0.3, "googlenet": 0.5}[arch]
    assert build_sun_network(arch, 0.1).head.dropout.p == 0.1


def test_overcast_frames_add_the_spread_term_and_are_excluded_when_its_weight_is_zero():
    torch.manual_seed(0)
    model = build_sun_network("lite").train()
    x = torch.randn(4, 3, 48, 64)
    batch = {
        "sun_cam": unit_rows(torch.tensor([[0.3, -0.5, 0.8]] * 4)),
        "overcast": torch.tensor([False, False, True, True]),
    }
    torch.manual_seed(1)
    with_term = batch_loss(model, x, batch, SunTrainConfig(overcast_weight=1.0))
    torch.manual_seed(1)
    without = batch_loss(model, x, batch, SunTrainConfig(overcast_weight=0.0))
    assert float(with_term.detach()) > float(without.detach()) > 0.0
    all_overcast = {**batch, "overcast": torch.ones(4, dtype=torch.bool)}
    assert float(batch_loss(model, x, all_overcast, SunTrainConfig(overcast_weight=0.0))) == 0.0


def _checkpoint(tmp_path, dropout):
    torch.manual_seed(0)
    model = build_sun_network("lite", dropout).eval()
    config = SunTrainConfig(input_width=64, input_height=48, dropout=dropout)
    path = save_checkpoint(model, config, {"path": "none", "frames": 0}, [], tmp_path / "run")
    return model, path


def test_export_matches_torch_without_dropout(tmp_path):
    model, checkpoint = _checkpoint(tmp_path, dropout=0.0)
    onnx_path, card = export_checkpoint(
        checkpoint, tmp_path / "sun.onnx", samples=4, log=lambda _: None
    )
    estimator = SunEstimator(onnx_path, ["cpu"])
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(estimator.preprocess(rgb))).numpy()[0]
    estimate = estimator.estimate(rgb)
    np.testing.assert_allclose(estimate.direction, expected, atol=1e-5)
    assert estimate.samples == 4 and estimate.spread_deg < 1e-3
    import json

    assert json.loads(card.read_text())["task"] == "sun_bcnn"


def test_exported_dropout_is_live_and_gives_a_spread(tmp_path):
    _, checkpoint = _checkpoint(tmp_path, dropout=0.3)
    onnx_path, _ = export_checkpoint(
        checkpoint, tmp_path / "sun.onnx", samples=32, log=lambda _: None
    )
    estimator = SunEstimator(onnx_path, ["cpu"])
    assert estimator.samples == 32 and estimator.dropout_live
    rgb = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    estimate = estimator.estimate(rgb)
    assert estimate.spread_deg > 0.1, "MC dropout did not survive export"
    assert estimate.mean_norm < 1.0 and np.trace(estimate.covariance) > 0
    np.testing.assert_allclose(np.linalg.norm(estimate.direction), 1.0)
    metadata = estimator.model.metadata
    assert metadata.extra["dropout_live"] is True and metadata.extra["frame"] == "camera_optical"


def test_a_short_training_run_learns_and_saves_a_checkpoint(tmp_path):
    from synth_fixtures import small_config

    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError

    try:
        synthesize(small_config(), "train", 40, tmp_path / "train")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    config = SunTrainConfig(
        epochs=3, batch_size=16, input_width=64, input_height=48, learning_rate=3e-3, threads=1
    )
    lines = []
    path = train_sun_bcnn(
        tmp_path / "train", tmp_path / "run", config, val_data=tmp_path / "train", log=lines.append
    )
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["task"] == "sun_bcnn" and checkpoint["input"]["width"] == 64
    assert checkpoint["dropout"] == 0.3 and checkpoint["train_config"]["epochs"] == 3
    history = checkpoint["history"]
    assert len(history) == 3 and len(lines) >= 3
    assert history[-1]["loss"] < history[0]["loss"]
    assert 0.0 <= history[-1]["median_error_deg"] <= 180.0
    assert (tmp_path / "run" / "history.json").is_file()
