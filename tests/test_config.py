import pytest

from tui_trainer import presets
from tui_trainer.config import Config, ConfigError, all_paths, check_field, load_toml, to_toml


def test_every_field_has_help_and_its_default_validates():
    cfg = Config()
    for path in all_paths():
        assert check_field(path, cfg.get(path)) == cfg.get(path), path


@pytest.mark.parametrize("path,value,needle", [
    ("optimizer.lr", "-1", "optimizer.lr = '-1' is invalid: expected a number from 1e-06 to 10"),
    ("data.batch_size", "3.5", "data.batch_size = '3.5' is invalid: expected an integer from 1 to 8192"),
    ("model.name", "vgg", "expected one of seed_cnn, airbench, resnet9, resnet18"),
    ("run.tta", "maybe", "expected true or false"),
    ("data.mean", "0.5,0.5", "expected 3 numbers from 0 to 1"),
    ("optimizer.lr", "nan", "optimizer.lr"),
])
def test_invalid_values_name_the_field_and_what_is_allowed(path, value, needle):
    with pytest.raises(ConfigError) as e:
        check_field(path, value)
    assert needle in str(e.value)


def test_strings_are_parsed_to_the_field_type():
    cfg = Config()
    cfg.set("optimizer.lr", "2e-3")
    cfg.set("run.tta", "yes")
    cfg.set("data.std", "0.2, 0.2, 0.2")
    cfg.set("schedule.milestones", "[10, 20]")
    assert (cfg.optimizer.lr, cfg.run.tta, cfg.data.std, cfg.schedule.milestones) == (2e-3, True, [0.2] * 3, [10.0, 20.0])


def test_unknown_keys_are_named_with_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"unknown key 'optimizer.lrr' \(allowed in \[optimizer\]: name, lr"):
        Config().set("optimizer.lrr", 1)
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"optimiser": {"lr": 1}, "run": {"epochs": 0}}, source="x.toml")
    message = str(e.value)
    assert message.startswith("x.toml: ") and "'optimiser'" in message and "run.epochs = 0" in message


def test_toml_round_trip(tmp_path):
    cfg = Config(description='quotes " and \\ survive')
    cfg.set("model.widths", [32, 64, 64])
    cfg.set("schedule.milestones", [1.5, 3])
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert load_toml(path) == cfg


def test_bad_toml_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[optimizer]\nlr = 0.1\nname = sgd\n')
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML: .*line 3, column 8"):
        load_toml(path)


def test_builtin_presets_are_valid_and_described(home):
    found = {p.name: p for p in presets.discover()}
    assert {"seed-notebook", "bag-of-tricks", "fast", "cpu-quick"} <= set(found)
    for preset in found.values():
        cfg = preset.load()
        assert cfg.description and "\n" not in cfg.description


def test_seed_notebook_presets_are_the_notebook_as_it_ran_and_as_it_reads(home):
    ran, cyclic = (presets.find(name).load() for name in ("seed-notebook", "seed-notebook-cyclic"))
    for cfg in (ran, cyclic):
        assert (cfg.model.name, cfg.data.batch_size, cfg.optimizer.name, cfg.optimizer.weight_decay) == \
            ("seed_cnn", 32, "adam", 1e-3)
        assert (cfg.augment.mixup_alpha, cfg.augment.crop_padding, cfg.augment.flip) == (0.4, 4, "random")
        assert (cfg.run.epochs, cfg.run.seed, cfg.run.best_after_epoch) == (200, 42, 10)
        assert cfg.data.mean == [0.4914, 0.4822, 0.4465] and cfg.data.std == [0.2023, 0.1994, 0.2010]
    # As it ran: the LR CyclicLR's constructor set (base_lr), never stepped; crops drawn once.
    assert (ran.optimizer.lr, ran.schedule.name, ran.augment.fixed) == (1e-3, "constant", True)
    assert (cyclic.optimizer.lr, cyclic.schedule.name, cyclic.augment.fixed) == (2e-3, "triangular2", False)
    assert (cyclic.schedule.base_lr_factor, cyclic.schedule.max_lr_factor) == (0.5, 2.0)


def test_user_presets_are_saved_and_listed_beside_builtins(home):
    cfg = presets.find("cpu-quick").load()
    cfg.set("optimizer.lr", 0.05)
    path = presets.save_user_preset("my-run", cfg)
    assert path.parent == home / ".config" / "tui-trainer" / "presets"
    mine = presets.find("my-run")
    assert not mine.builtin and mine.load().optimizer.lr == 0.05
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        presets.find("nope")
