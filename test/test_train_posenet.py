"""PoseNet training code: losses, networks, export with live MC dropout, and a tiny real training run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch (the [train] extra) is not installed")

from pose_reloc.posenet.localizer import PoseNetLocalizer  # noqa: E402
from pose_reloc.posenet.losses import (  # noqa: E402
    BetaLoss,
    LearnedWeightingLoss,
    ReprojectionLoss,
    quaternion_distance,
    rotation_matrices,
)
from pose_reloc.posenet.networks import build_posenet  # noqa: E402
from pose_reloc.posenet.train import PoseNetTrainConfig, evaluate_set, train_posenet  # noqa: E402
from pose_reloc.tools.export import export_checkpoint  # noqa: E402
from pose_reloc.train.layers import MCDropout, set_mc_dropout  # noqa: E402


def batch_at(position, q):
    K = torch.tensor([[[100.0, 0, 80], [0, 100.0, 60], [0, 0, 1]]])
    points = torch.tensor([[[0.0, 0.0, 5.0], [1.0, -1.0, 8.0], [-2.0, 0.5, 6.0]]])
    return {
        "position": position,
        "orientation": q,
        "K": K,
        "points": points,
        "points_valid": torch.ones(1, 3),
    }


def test_quaternion_distance_is_sign_invariant_and_matches_scipy_matrices():
    from scipy.spatial.transform import Rotation

    q = torch.tensor([[0.1, -0.3, 0.5, 0.8]])
    q = q / q.norm()
    assert float(quaternion_distance(q, -q)) == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(
        rotation_matrices(q)[0].numpy(), Rotation.from_quat(q[0].numpy()).as_matrix(), atol=1e-6
    )


@pytest.mark.parametrize(
    "loss", [BetaLoss(), LearnedWeightingLoss(s_x=0.0, s_q=0.0), ReprojectionLoss()]
)
def test_losses_are_smallest_at_the_truth_and_grow_with_error(loss):
    q = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    truth = batch_at(torch.zeros(1, 3), q)
    at_truth = float(loss(torch.zeros(1, 3), q, truth))
    off = torch.tensor([[0.5, 0.0, 0.0]], requires_grad=True)
    turned = torch.tensor([[0.0, 0.087, 0.0, 0.996]])
    worse = loss(off, turned / turned.norm(), truth)
    assert float(worse) > at_truth
    worse.backward()
    assert off.grad is not None and float(off.grad.abs().sum()) > 0


def test_mc_dropout_is_live_only_when_asked():
    layer = MCDropout(0.5).eval()
    x = torch.ones(1000)
    assert torch.equal(layer(x), x)
    layer.always_on = True
    y = layer(x)
    assert 0.3 < float((y == 0).float().mean()) < 0.7 and float(y.max()) == pytest.approx(2.0)


def test_googlenet_has_three_regressors_and_one_at_inference():
    model = build_posenet("googlenet", torch.zeros(3), torch.ones(3)).eval()
    heads = model.heads(torch.zeros(1, 3, 224, 224))
    assert len(heads) == 3 and all(p.shape == (1, 3) and q.shape == (1, 4) for p, q in heads)
    position, q = model(torch.zeros(1, 3, 224, 224))
    assert position.shape == (1, 3) and float(q.norm()) == pytest.approx(1.0, abs=1e-5)


ANCHORS = torch.tensor([[0.0, 0.0, 1.3], [12.0, 0.0, 1.3], [12.0, 30.0, 1.3]])


def _checkpoint(tmp_path, dropout, anchors=None):
    torch.manual_seed(0)
    mean, scale = torch.tensor([10.0, -5.0, 1.3]), torch.tensor([20.0, 20.0, 1.0])
    model = build_posenet("lite", mean, scale, dropout, anchors, 6.0).eval()
    path = tmp_path / "checkpoint.pt"
    torch.save(
        {
            "task": "posenet",
            "arch": "lite",
            "state_dict": model.state_dict(),
            "dropout": dropout,
            "anchors": anchors,
            "anchor_spacing_m": 6.0,
            "position_mean": torch.tensor([10.0, -5.0, 1.3]),
            "position_scale": torch.tensor([20.0, 20.0, 1.0]),
            "input": {
                "width": 64,
                "height": 48,
                "channel_order": "RGB",
                "mean": [0.5] * 3,
                "std": [0.25] * 3,
            },
        },
        path,
    )
    return model, path


@pytest.mark.parametrize("anchors", [None, ANCHORS], ids=["regression", "anchors"])
def test_export_matches_torch_exactly_without_dropout(tmp_path, anchors):
    model, checkpoint = _checkpoint(tmp_path, dropout=0.0, anchors=anchors)
    onnx_path, card = export_checkpoint(
        checkpoint, tmp_path / "m.onnx", samples=4, log=lambda _: None
    )
    localizer = PoseNetLocalizer(onnx_path, ["cpu"], samples=1)
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(localizer.preprocess(rgb))
    with torch.no_grad():
        position, q = model(x)
    estimate = localizer.localize(rgb)
    np.testing.assert_allclose(estimate.T_map_cam.translation, position.numpy()[0], atol=1e-4)
    assert abs(float(np.dot(estimate.T_map_cam.quat_xyzw, q.numpy()[0]))) == pytest.approx(
        1.0, abs=1e-6
    )
    import json

    card_fields = json.loads(card.read_text())
    assert card_fields["task"] == "posenet"
    assert card_fields["head"] == ("regression" if anchors is None else "anchors")
    assert card_fields.get("anchors") == (None if anchors is None else 3)


def test_exported_dropout_is_live_and_its_mean_is_the_deterministic_pose(tmp_path):
    model, checkpoint = _checkpoint(tmp_path, dropout=0.3)
    onnx_path, _ = export_checkpoint(
        checkpoint, tmp_path / "m.onnx", samples=16, log=lambda _: None
    )
    localizer = PoseNetLocalizer(onnx_path, ["cpu"], samples=512)
    rgb = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    estimate = localizer.localize(rgb)
    with torch.no_grad():
        position, _ = model(torch.from_numpy(localizer.preprocess(rgb)))
    spread = np.sqrt(np.diag(estimate.covariance)[:3])
    assert np.all(spread > 0.01), "MC dropout did not survive export"
    np.testing.assert_allclose(
        estimate.T_map_cam.translation,
        position.numpy()[0],
        atol=4 * spread.max() / np.sqrt(512) + 0.05,
    )
    assert localizer.model.metadata.extra["dropout_live"] is True


@pytest.mark.parametrize("loss", ["learned", "anchors"])
def test_a_short_training_run_learns_and_saves_a_checkpoint(tmp_path, loss):
    from synth_fixtures import small_config

    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError
    from pose_reloc.train.data import load_image_set

    try:
        synthesize(small_config(), "train", 64, tmp_path / "train")
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    config = PoseNetTrainConfig(
        loss=loss, epochs=3, batch_size=16, input_width=64, input_height=48, learning_rate=3e-3
    )
    lines = []
    path = train_posenet(tmp_path / "train", tmp_path / "run", config, log=lines.append)
    checkpoint = torch.load(path, weights_only=False)
    losses = [h["loss"] for h in checkpoint["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    model = build_posenet(
        "lite",
        checkpoint["position_mean"],
        checkpoint["position_scale"],
        anchors=checkpoint["anchors"],
        anchor_spacing_m=checkpoint["anchor_spacing_m"],
    )
    assert (checkpoint["anchors"] is not None) == (loss == "anchors")
    model.load_state_dict(checkpoint["state_dict"])
    figures = evaluate_set(model, load_image_set(tmp_path / "train", (64, 48)))
    assert figures["median_translation_m"] < 100.0
    set_mc_dropout(model, False)


def test_export_refuses_a_missing_or_foreign_checkpoint(tmp_path):
    from pose_reloc.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"missing\.pt does not exist"):
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "m.onnx")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ModelLoadError, match=r"text\.pt cannot be read"):
        export_checkpoint(tmp_path / "text.pt", tmp_path / "m.onnx")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ModelLoadError, match="not a checkpoint written by"):
        export_checkpoint(tmp_path / "foreign.pt", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_several_drives_load_as_one_training_set_in_order(tmp_path):
    from synth_fixtures import small_config

    from pose_reloc.datasets import read_dataset
    from pose_reloc.synth.generate import synthesize
    from pose_reloc.synth.render import RenderError
    from pose_reloc.train.data import load_image_set

    try:
        synthesize(small_config(), "drive", 1.0, tmp_path / "a", seed=1)
        synthesize(small_config(), "drive", 2.0, tmp_path / "b", seed=2)
    except RenderError as error:
        pytest.skip(f"no headless OpenGL here: {error}")
    both = load_image_set([tmp_path / "a", tmp_path / "b"], (32, 24))
    frames = [*read_dataset(tmp_path / "a"), *read_dataset(tmp_path / "b")]
    assert len(both) == 30 and both.source["frames"] == 30
    assert both.source["path"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    expected = np.stack([f.T_wc.translation for f in frames])
    np.testing.assert_allclose(both.position.numpy(), expected, atol=1e-5)
    assert load_image_set(tmp_path / "a", (32, 24)).source["path"] == str(tmp_path / "a")


def test_anchors_are_the_mean_of_the_drives_in_each_occupied_cell():
    from pose_reloc.posenet.networks import place_anchors

    positions = torch.tensor(
        [[1.0, 1.0, 1.3], [3.0, 2.0, 1.5], [7.0, 1.0, 1.3], [-1.0, 1.0, 1.3], [-2.0, 5.0, 1.3]]
    )
    anchors = place_anchors(positions, 6.0)
    expected = {(2.0, 1.5, 1.4), (7.0, 1.0, 1.3), (-1.5, 3.0, 1.3)}
    assert {tuple(round(float(v), 4) for v in a) for a in anchors} == expected
    with pytest.raises(ValueError, match="spacing"):
        place_anchors(positions, 0.0)


def _anchor_head(dropout=0.0):
    from pose_reloc.posenet.networks import AnchorPoseHead

    torch.manual_seed(0)
    return AnchorPoseHead(8, 16, dropout, ANCHORS, 6.0).eval()


def test_the_anchor_head_reads_the_best_scored_anchor_plus_its_own_offset():
    head = _anchor_head()
    with torch.no_grad():
        head.scores.weight.zero_()
        head.scores.bias.copy_(torch.tensor([0.0, 5.0, 1.0]))
        head.offsets.weight.zero_()
        head.offsets.bias.copy_(torch.tensor([0, 0, 0, 0.5, -0.25, 0, 0, 0, 0], dtype=torch.float))
        position, q = head(torch.randn(2, 8))
    np.testing.assert_allclose(position.numpy(), [[15.0, -1.5, 1.3]] * 2, atol=1e-6)
    np.testing.assert_allclose(q.norm(dim=1).numpy(), 1.0, atol=1e-6)


def test_mc_samples_of_an_image_like_two_places_land_at_both():
    head = _anchor_head(dropout=0.5)
    with torch.no_grad():  # anchors 0 and 2 scored alike: each dropout mask tips it one way
        head.fc[1].weight.copy_(torch.eye(16, 8))
        head.fc[1].bias.fill_(1.0)
        head.scores.weight.zero_()
        head.scores.weight[0, :8] = 1.0
        head.scores.weight[2, 8:] = 1.0
        head.scores.bias.copy_(torch.tensor([0.0, -50.0, 0.0]))
        head.offsets.weight.zero_()
        head.offsets.bias.zero_()
    head.dropout.always_on = True
    with torch.no_grad():
        position, _ = head(torch.zeros(1, 8), torch.zeros(200, 1))
    at_first = (position[:, 1] < 15).float().mean()
    assert 0.2 < float(at_first) < 0.8  # both places, so the samples spread 30 m apart
    assert float(position[:, 1].std()) > 10.0


def test_the_anchor_loss_is_smallest_at_the_truth_and_teaches_the_scores():
    from pose_reloc.posenet.losses import AnchorLoss

    head, loss = _anchor_head(), AnchorLoss()
    truth = {
        "position": torch.tensor([[12.5, 1.0, 1.3]]),
        "orientation": torch.tensor([[0.0, 0, 0, 1]]),
    }
    x = torch.randn(1, 8)
    with torch.no_grad():
        head.scores.weight.zero_()
        head.offsets.weight.zero_()
        head.offsets.bias.zero_()
        head.orientation.weight.zero_()
        head.orientation.bias.copy_(torch.tensor([0.0, 0, 0, 1]))
    with torch.no_grad():
        head.scores.bias.copy_(torch.tensor([-5.0, 5.0, -5.0]))
        head.offsets.bias[3:6] = torch.tensor([0.5, 1.0, 0.0]) / 6.0
        at_truth = float(loss(head.outputs(x), truth))
        head.scores.bias.copy_(torch.tensor([5.0, -5.0, -5.0]))
        wrong_anchor = float(loss(head.outputs(x), truth))
    assert wrong_anchor > at_truth + 5.0
    head.scores.bias.data.zero_()
    loss(head.outputs(x), truth).backward()
    assert float(head.scores.bias.grad[1]) < 0 < float(head.scores.bias.grad[0])
