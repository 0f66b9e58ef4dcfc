"""Pipeline configuration: defaults, user files, CLI overrides, validation."""

from __future__ import annotations

import tomllib

import pytest

from imusynth.config import (
    ConfigError,
    PipelineConfig,
    config_hash,
    default_toml_text,
    load_pipeline_config,
    to_toml,
    with_overrides,
)
from tests.conftest import REPO


def test_defaults_file_matches_dataclass_defaults():
    assert load_pipeline_config() == PipelineConfig()


def test_repository_recipe_is_the_packaged_default():
    assert (REPO / "pipelines" / "default.toml").read_text() == default_toml_text()


def test_every_recipe_in_pipelines_loads():
    for path in (REPO / "pipelines").glob("*.toml"):
        load_pipeline_config(path)


def test_user_file_and_overrides(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[output]\nrate_hz = 100\nplacements = ['thigh']\n[tracking]\nperson = 'all'\n")
    cfg = load_pipeline_config(f)
    assert (
        cfg.output.rate_hz == 100.0 and cfg.output.placements == ("thigh",) and cfg.tracking.person == "all"
    )
    cfg2 = with_overrides(cfg, {"output.rate_hz": 25.0, "pose.model": None})
    assert cfg2.output.rate_hz == 25.0 and cfg2.pose.model == "full"
    assert config_hash(cfg) != config_hash(cfg2)
    assert tomllib.loads(to_toml(cfg2))["output"]["rate_hz"] == 25.0


@pytest.mark.parametrize(
    "text, match",
    [
        ("[output]\nrate_hz = -1\n", "positive"),
        ("[output]\nrate = 5\n", "unknown key"),
        ("[nope]\n", "unknown table"),
        ("[tracking]\nperson = 'everyone'\n", "must be one of"),
        ("[kinematics]\nmin_confidence = 2\n", r"\[0, 1\]"),
        ("[camera]\nstatic = 'yes'\n", "true or false"),
        ("[output\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(tmp_path, text, match):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_pipeline_config(f)
