"""Configuration is validated at start-up with one clear message per problem."""

from __future__ import annotations

import pytest

from config.settings import USDT_MAINNET, InvalidSettings, load_settings

pytestmark = pytest.mark.unit

HOT = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SWEEPER_"):
            monkeypatch.delenv(key)


def problems(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> list[str]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(InvalidSettings) as info:
        load_settings(_env_file=None)
    return info.value.problems


def test_a_valid_configuration_loads_with_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "tronzap, itrx")
    monkeypatch.setenv("SWEEPER_ENERGY__TRONZAP__API_TOKEN", "tok-123456")
    monkeypatch.setenv("SWEEPER_ENERGY__TRONZAP__API_SECRET", "sec-123456")
    monkeypatch.setenv("SWEEPER_ENERGY__ITRX__API_KEY", "key-123456")
    monkeypatch.setenv("SWEEPER_ENERGY__ITRX__API_SECRET", "sec-abcdef")
    monkeypatch.setenv("SWEEPER_TRON__NODE_URL", "http://127.0.0.1:9999/")
    s = load_settings(_env_file=None)
    assert s.energy.order == ["tronzap", "itrx"]
    assert str(s.tron.node_url) == "http://127.0.0.1:9999/"
    assert s.destination_for("USDT") == HOT
    assert s.energy.tronzap.api_secret is not None
    assert "sec-123456" not in repr(s)


def test_a_bad_checksum_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(monkeypatch, {"SWEEPER_DESTINATION": HOT[:-1] + "4", "SWEEPER_ENERGY__ORDER": ""})
    assert len(found) == 1
    assert found[0].startswith("SWEEPER_DESTINATION:")
    assert "not a valid TRON address" in found[0]


def test_each_problem_gets_its_own_message(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        {
            "SWEEPER_TRON__NODE_URL": "not a url",
            "SWEEPER_DESTINATION": "0xdeadbeef",
            "SWEEPER_ENERGY__ORDER": "itrx,moonpay",
            "SWEEPER_CONFIRMATIONS": "-1",
        },
    )
    joined = "\n".join(found)
    assert len(found) == 4, joined
    assert any(p.startswith("SWEEPER_TRON__NODE_URL:") for p in found)
    assert any(p.startswith("SWEEPER_DESTINATION:") for p in found)
    assert any("moonpay" in p for p in found)
    assert any(p.startswith("SWEEPER_CONFIRMATIONS:") for p in found)


def test_an_enabled_source_without_its_secret_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        {
            "SWEEPER_DESTINATION": HOT,
            "SWEEPER_ENERGY__ORDER": "itrx,tronzap",
            "SWEEPER_ENERGY__ITRX__API_KEY": "k-123456",
            "SWEEPER_ENERGY__TRONZAP__API_TOKEN": "t-123456",
        },
    )
    assert found == [
        "energy source 'itrx' is enabled but SWEEPER_ENERGY__ITRX__API_SECRET is not set",
        "energy source 'tronzap' is enabled but SWEEPER_ENERGY__TRONZAP__API_SECRET is not set",
    ]


def test_a_missing_destination_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(monkeypatch, {"SWEEPER_ENERGY__ORDER": ""})
    assert found == [f"no destination for USDT ({USDT_MAINNET}): set SWEEPER_DESTINATION (the hot wallet)"]


def test_secrets_in_an_invalid_configuration_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        {
            "SWEEPER_DESTINATION": "bad",
            "SWEEPER_ENERGY__ORDER": "itrx",
            "SWEEPER_ENERGY__ITRX__API_KEY": "visible-key-987",
            "SWEEPER_ENERGY__ITRX__API_SECRET": "top-secret-value-42",
        },
    )
    assert "top-secret-value-42" not in "\n".join(found)


def test_field_errors_and_missing_secrets_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch,
        {
            "SWEEPER_DESTINATION": "TBad",
            "SWEEPER_TRON__TIMEOUT": "-5",
            "SWEEPER_ENERGY__ORDER": "ea888fee",
            "SWEEPER_ENERGY__EA888FEE__API_KEY": "key-123456",
        },
    )
    assert len(found) == 3, found
    assert found[0].startswith("SWEEPER_TRON__TIMEOUT:") or found[0].startswith("SWEEPER_DESTINATION:")
    assert (
        found[-1] == "energy source 'ea888fee' is enabled but SWEEPER_ENERGY__EA888FEE__API_SECRET is not set"
    )


# -- spend guards: per-token facts by contract, our own wallets, budgets --------------------------------

OTHER = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
HOT_2 = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
GAS = "TKdxd9M9wRsdQXCswGTvAQrJUDHtJP9uS9"


def test_two_tokens_sharing_a_symbol_keep_their_own_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.runtime import flow_config

    tokens = (
        f'[{{"symbol":"USDT","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,"min_amount":1}},'
        f'{{"symbol":"USDT","contract":"{OTHER}","decimals":6,"min_amount":1,"destination":"{HOT_2}"}}]'
    )
    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "")
    monkeypatch.setenv("SWEEPER_TOKENS", tokens)
    s = load_settings(_env_file=None)

    assert s.destinations() == {"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t": HOT, OTHER: HOT_2}
    assert flow_config(s).destinations == s.destinations()
    with pytest.raises(KeyError):  # a symbol that names two tokens names none
        s.destination_for("USDT")


def test_a_token_contract_listed_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = '{"symbol":"USDT","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,"min_amount":1}'
    found = problems(
        monkeypatch,
        {"SWEEPER_DESTINATION": HOT, "SWEEPER_ENERGY__ORDER": "", "SWEEPER_TOKENS": f"[{token},{token}]"},
    )
    assert found == ["SWEEPER_TOKENS lists token contract TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t twice"]


def test_our_own_wallets_are_every_destination_the_gas_wallet_and_the_stake_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks.runtime import flow_config

    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "burn")
    monkeypatch.setenv("SWEEPER_ENERGY__BURN__GAS_WALLET", GAS)
    monkeypatch.setenv("SWEEPER_ENERGY__STAKE__OWNER", HOT_2)
    s = load_settings(_env_file=None)

    assert set(s.own_wallets()) == {HOT, GAS, HOT_2}
    assert "GAS_WALLET" in s.own_wallets()[GAS]
    assert flow_config(s).own_wallets == {HOT, GAS, HOT_2}


def test_spend_budgets_are_read_from_the_environment_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.runtime import flow_config

    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "")
    monkeypatch.setenv("SWEEPER_BUDGET__ORDERS_PER_SWEEP", "3")
    monkeypatch.setenv("SWEEPER_BUDGET__ORDERS_PER_ADDRESS", "5")
    monkeypatch.setenv("SWEEPER_BUDGET__ADDRESS_WINDOW_SECONDS", "600")
    monkeypatch.setenv("SWEEPER_BUDGET__SUN_PER_HOUR", "0")
    budgets = flow_config(load_settings(_env_file=None)).budgets

    assert (budgets.orders_per_sweep, budgets.orders_per_address) == (3, 5)
    assert (budgets.address_window_seconds, budgets.sun_per_hour) == (600, 0)
    monkeypatch.setenv("SWEEPER_BUDGET__ORDERS_PER_SWEEP", "0")
    (found,) = problems(monkeypatch, {})
    assert found.startswith("SWEEPER_BUDGET__ORDERS_PER_SWEEP:")


def test_a_misspelled_variable_is_named_with_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.settings import unknown_variable_warnings

    warnings = unknown_variable_warnings(
        {"SWEEPER_ENERGY__ITRX__APIKEY": "x", "SWEEPER_DESTINATON": "T", "SWEEPER_TEST_PG_PORT": "1"}
    )

    assert warnings == [
        "SWEEPER_DESTINATON is not a setting and is ignored; did you mean SWEEPER_DESTINATION?",
        "SWEEPER_ENERGY__ITRX__APIKEY is not a setting and is ignored; "
        "did you mean SWEEPER_ENERGY__ITRX__API_KEY?",
    ]


def test_every_variable_of_env_example_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from config.settings import unknown_variable_warnings
    from config.variables import env_file_names

    names = env_file_names(Path(__file__).parents[2] / ".env.example")

    assert len(names) > 40 and unknown_variable_warnings(dict.fromkeys(names, "")) == []


def test_a_log_level_must_be_a_level(monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems(
        monkeypatch, {"SWEEPER_DESTINATION": HOT, "SWEEPER_ENERGY__ORDER": "", "SWEEPER_LOG_LEVEL": "verbose"}
    )

    assert found == [
        "SWEEPER_LOG_LEVEL: 'verbose' is not a log level; one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]


def test_empty_optional_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SWEEPER_KEYS__REMOTE_SIGNER_URL",
        "SWEEPER_CALLBACK_PUBLIC_URL",
        "SWEEPER_KEYS__KEYSTORE_FILE",
    ):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "")

    settings = load_settings(_env_file=None)

    assert settings.keys.remote_signer_url is None and settings.callback_public_url is None
    assert settings.energy.order == []  # an empty order still means "no source", as before


def test_a_command_may_load_without_the_parts_it_never_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidSettings):
        load_settings(_env_file=None)  # no hot wallet, no provider secrets

    settings = load_settings(without=frozenset({"destination", "energy"}), _env_file=None)

    assert settings.destination is None and settings.energy.order == ["itrx", "ea888fee", "tronzap"]


def test_tokens_that_are_not_json_are_one_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch, {"SWEEPER_TOKENS": "[{"}) == [
        'SWEEPER_TOKENS is not valid JSON; write it as one JSON value on one line: e.g. [{"symbol":"USDT",'
        '"contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,"min_amount":1000000}]'
    ]


def test_the_cpu_levers_default_to_off_for_events_and_pre_ping_and_three_seconds_of_quotes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from config.celery import celery_settings

    monkeypatch.setenv("SWEEPER_DESTINATION", HOT)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "burn")
    monkeypatch.setenv("SWEEPER_ENERGY__BURN__GAS_WALLET", HOT)
    s = load_settings(_env_file=None)
    assert (s.task_events, s.database_pre_ping, s.energy.quote_cache_seconds) == (False, False, 3.0)
    quiet = celery_settings("redis://127.0.0.1:6379/0", task_events=s.task_events)
    assert quiet["worker_send_task_events"] is False and quiet["task_send_sent_event"] is False
    monkeypatch.setenv("SWEEPER_TASK_EVENTS", "true")
    monkeypatch.setenv("SWEEPER_DATABASE_PRE_PING", "true")
    monkeypatch.setenv("SWEEPER_ENERGY__QUOTE_CACHE_SECONDS", "0")
    s = load_settings(_env_file=None)
    assert (s.task_events, s.database_pre_ping, s.energy.quote_cache_seconds) == (True, True, 0.0)
    assert celery_settings("redis://127.0.0.1:6379/0", task_events=True)["worker_send_task_events"] is True
    assert problems(monkeypatch, {"SWEEPER_ENERGY__QUOTE_CACHE_SECONDS": "-1"})
