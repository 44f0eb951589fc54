"""The mapping options map-site and evaluate site share reach MappingConfig; unset ones keep its
defaults."""

from __future__ import annotations

import argparse

import pytest

from pose_reloc.tools.cli.common import add_mapping_arguments, mapping_config
from vo_fusion.errors import VoFusionError
from vo_fusion.mapping.site import MappingConfig


def _parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mapping_arguments(parser)
    return parser.parse_args(list(argv))


def test_unset_options_keep_the_mapping_defaults():
    assert mapping_config(_parsed()) == MappingConfig()


def test_the_odometry_trust_options_reach_the_bundle_priors():
    config = mapping_config(
        _parsed(
            "--odometry-distance-error", "0.03",
            "--odometry-heading-error", "1.5",
            "--odometry-turn-scale-error", "0.3",
            "--descriptor", "sift",
            "--level-ground", "0.02",
        )
    )  # fmt: skip
    assert config.odometry_distance_error == pytest.approx(0.03)
    assert config.odometry_heading_error_deg_per_m == pytest.approx(1.5)
    assert config.odometry_turn_scale_error == pytest.approx(0.3)
    assert config.descriptor == "sift"
    assert config.level_ground_m == pytest.approx(0.02)
    assert config.odometry_yaw_drift_deg_per_m == MappingConfig().odometry_yaw_drift_deg_per_m


def test_a_trust_that_is_no_standard_deviation_is_refused():
    with pytest.raises(VoFusionError, match=r"odometry turn scale error is -0\.1"):
        mapping_config(_parsed("--odometry-turn-scale-error", "-0.1"))
    with pytest.raises(VoFusionError, match=r"level ground sigma is 0\.0"):
        mapping_config(_parsed("--level-ground", "0"))
