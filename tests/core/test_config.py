"""Config validation: one clear line for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from datahygiene.core.config import ConfigError, Rule, load_config, parse_config


def test_defaults_validate_and_hash_is_stable() -> None:
    first = load_config(Path("configs/default.yaml"))
    second = load_config(Path("configs/default.yaml"))
    assert first.sha256() == second.sha256()
    assert load_config(Path("configs/default.yaml"), ["batch_size=10"]).sha256() != first.sha256()


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'limits.max_pixels'"):
        parse_config({"limits": {"max_pixels": 3}})


def test_wrong_type_gives_field_path() -> None:
    with pytest.raises(ConfigError, match=r"^limits\.max_image_pixels: "):
        parse_config({"limits": {"max_image_pixels": "lots"}})


def test_unknown_stage_lists_valid_names() -> None:
    with pytest.raises(
        ConfigError, match=r"stages\.0\.name: unknown stage 'toxicity\.nope'; valid stages: .*text\.stats"
    ):
        parse_config({"stages": [{"name": "toxicity.nope"}]})


def test_unknown_stage_param_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"stages\.0\.params\.unknown key 'bogus'"):
        parse_config({"stages": [{"name": "text.stats", "params": {"bogus": 1}}]})


def test_overrides_parse_yaml_scalars_and_paths() -> None:
    config = load_config(None, ["batch_size=128", "models.offline=true", "policy.rules=[{when: 'text_words < 2'}]"])
    assert config.batch_size == 128
    assert config.models.offline is True
    assert config.policy.rules[0].reason_template == "text_words<2"


@pytest.mark.parametrize("override", ["batch_size", "=3", "stages.5.name=x"])
def test_bad_overrides_fail_cleanly(override: str) -> None:
    with pytest.raises(ConfigError):
        load_config(None, [override])


@pytest.mark.parametrize(
    ("when", "template"),
    [
        ("toxicity > 0.8", "toxicity>0.8"),
        ("nsfw>=0.5", "nsfw>=0.5"),
        ("likeness_signals contains identifiable_person", "likeness_signals:identifiable_person"),
        ("blocklist_lists not_empty", "blocklist_lists:{value}"),
    ],
)
def test_rule_reasons(when: str, template: str) -> None:
    assert Rule(when=when).reason_template == template


@pytest.mark.parametrize("when", ["toxicity >", "toxicity ~ 3", "x contains", "1abc > 2"])
def test_bad_rules_are_config_errors(when: str) -> None:
    with pytest.raises(ConfigError, match=r"^policy\.rules\.0\.when: "):
        parse_config({"policy": {"rules": [{"when": when}]}})


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("batch_size=true", "batch_size"),
        ("image_batch_size=false", "image_batch_size"),
        ("limits.max_text_chars=true", "limits.max_text_chars"),
        ("stages=[{name: dedup, params: {near_text: {num_perm: true}}}]", "stages.0.params.near_text.num_perm"),
    ],
)
def test_a_boolean_is_not_a_number(override: str, path: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{path}: Input should be a number, not a boolean$"):
        load_config(Path("configs/minimal.yaml"), [override])


def test_yaml_tags_in_overrides_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"^--set batch_size: not a plain YAML value") as error:
        load_config(Path("configs/minimal.yaml"), ['batch_size=!!python/object/apply:os.system ["true"]'])
    assert "\n" not in str(error.value)


def test_a_plugin_that_does_not_import_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"^plugins: cannot import 'no_such_plugin_module': ModuleNotFoundError"):
        load_config(Path("configs/minimal.yaml"), ["plugins=[no_such_plugin_module]"])
