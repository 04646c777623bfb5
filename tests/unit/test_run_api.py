"""The in-trial API's pure parts: ``config`` as a user's training code sees it, and the errors
of calling the API before ``init()``."""

from __future__ import annotations

import pytest

from redsweep.errors import RedsweepError
from redsweep.worker.api import functions as run_api
from redsweep.worker.api.config import Config, merge


def sweep_config() -> Config:
    """What init(config=defaults) gives inside a trial whose sweep params are ``params``."""
    defaults = {"lr": 0.1, "epochs": 10, "net": {"depth": 2, "width": 64}}
    params = {"lr": 0.01, "net": {"depth": 4}}
    return Config(merge(defaults, params), locked=params)


def test_sweep_values_override_defaults_and_nested_dicts_merge() -> None:
    config = sweep_config()
    assert config.lr == 0.01
    assert config["epochs"] == 10
    assert config.net.depth == 4
    assert config["net"]["width"] == 64
    assert config.net == {"depth": 4, "width": 64}
    assert config.as_dict() == {"lr": 0.01, "epochs": 10, "net": {"depth": 4, "width": 64}}


def test_config_reads_like_a_dict() -> None:
    config = sweep_config()
    assert "lr" in config and "momentum" not in config
    assert sorted(config.keys()) == ["epochs", "lr", "net"]
    assert dict(config.items())["epochs"] == 10
    assert config.get("momentum", 0.9) == 0.9
    assert len(config) == 3
    with pytest.raises(AttributeError, match="no key 'momentum'"):
        _ = config.momentum
    with pytest.raises(KeyError):
        _ = config["momentum"]


def test_sweep_keys_keep_their_value_and_others_can_be_set() -> None:
    config = sweep_config()
    with pytest.warns(UserWarning, match="set by the sweep"):
        config.lr = 0.5
    assert config.lr == 0.01
    config.update({"epochs": 20, "seed": 3})
    config.momentum = 0.9
    assert (config.epochs, config.seed, config["momentum"]) == (20, 3, 0.9)
    config.update({"lr": 0.2}, allow_val_change=True)
    assert config.lr == 0.2
    config.net.width = 128  # nested views write through
    assert config.as_dict()["net"] == {"depth": 4, "width": 128}


def test_as_dict_is_a_copy() -> None:
    config = sweep_config()
    plain = config.as_dict()
    plain["net"]["depth"] = 99
    assert config.net.depth == 4


def test_the_api_before_init_outside_a_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(run_api.ENV_RUN_ID, raising=False)
    assert run_api.current_run() is None
    with pytest.raises(RedsweepError, match=r"call redsweep.init\(\) before redsweep.log\(\)"):
        run_api.log({"loss": 1.0})
    with pytest.raises(AttributeError, match="no key 'lr'"):
        _ = run_api.config.lr
    run_api.finish()  # nothing to finish: no error


def test_stop_trial_is_not_swallowed_by_except_exception() -> None:
    assert issubclass(run_api.StopTrial, BaseException)
    assert not issubclass(run_api.StopTrial, Exception)
