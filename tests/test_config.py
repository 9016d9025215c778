"""Settings: defaults → TOML → environment, one clear line per mistake, secrets never shown."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from connector.config import SETTINGS, load_settings
from connector.errors import ConfigError

ROOT = Path(__file__).parent.parent


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings["target.kind"] == "dry-run"
    assert settings["database.path"] == "connector.db"
    assert settings.source == "built-in defaults"


def test_file_then_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[target]\nkind = "http"\ntimeout_s = 3\n[worker]\nconcurrency = 2\n')
    settings = load_settings(path, env={"CONNECTOR_TARGET_TIMEOUT_S": "7.5", "CONNECTOR_ADMIN_TOKEN": "t"})
    assert settings["target.kind"] == "http"
    assert settings["target.timeout_s"] == 7.5
    assert settings["worker.concurrency"] == 2
    assert settings["admin.token"] == "t"


def test_config_path_from_environment(tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text('[database]\npath = "x.db"\n')
    assert load_settings(env={"CONNECTOR_CONFIG": str(path)})["database.path"] == "x.db"


@pytest.mark.parametrize(
    "content, env, message",
    [
        ('[target]\nkind = "fedex"\n', {}, "target.kind"),
        ('[target]\ntimeout_s = "soon"\n', {}, "target.timeout_s"),
        ('[worker]\nnope = 1\n', {}, "worker.nope: unknown key"),
        ('[wat]\nx = 1\n', {}, "wat: unknown section"),
        ("[target\n", {}, "not valid TOML"),
        ("", {"CONNECTOR_WORKER_CONCURRENCY": "many"}, "worker.concurrency"),
        ('[shops."evil.com"]\n', {}, 'shops."evil.com"'),
        ('[shopify]\napi_version = "latest"\n', {}, "shopify.api_version"),
    ],
)
def test_bad_values_name_the_key(tmp_path, content, env, message):
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env=env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_secret_values_never_appear_in_errors_or_redacted_output(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[target]\npassword = ["hunter3"]\n')  # wrong type: must not echo the value
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env={})
    assert "hunter3" not in str(raised.value) and "<hidden>" in str(raised.value)
    settings = load_settings(env={"CONNECTOR_SHOPIFY_API_SECRET": "hunter2"})
    assert "hunter2" not in str(settings.redacted())
    assert settings.redacted()["shopify.api_secret"] == "***"


def test_missing_required_key_is_one_clear_line():
    settings = load_settings(env={}, overrides={"shopify.api_secret": ""})
    with pytest.raises(ConfigError, match=r"^shopify.api_secret is required \(set it in the config file or CONNECTOR_SHOPIFY_API_SECRET\)$"):
        settings.require("shopify.api_secret")


def test_missing_explicit_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})


def test_per_shop_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[target]\neshop_id = "A"\n[shops."one.myshopify.com"]\neshop_id = "B"\naccess_token = "shpat_x"\n')
    settings = load_settings(path, env={})
    assert settings.target_for("one.myshopify.com")["eshop_id"] == "B"
    assert settings.target_for("two.myshopify.com")["eshop_id"] == "A"
    assert settings.shops["one.myshopify.com"]["access_token"] == "shpat_x"


def test_example_config_documents_every_key_with_its_default():
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    documented = {f"{section}.{key}": value for section, table in example.items() for key, value in table.items()}
    declared = {s.name: s.default for s in SETTINGS}
    assert set(documented) == set(declared)
    for name, default in declared.items():
        assert documented[name] == default, name
    assert load_settings(ROOT / "config.example.toml", env={})  # and it loads as-is


def test_database_url_comes_from_the_platform_or_our_own_variable_and_its_password_never_shows(tmp_path):
    platform = {"DATABASE_URL": "postgres://app:s3cret@db.internal:5432/connector"}
    settings = load_settings(None, env=platform)
    assert settings["database.url"] == platform["DATABASE_URL"]
    assert settings.redacted()["database.url"] == "postgres://app:***@db.internal:5432/connector"
    ours = {**platform, "CONNECTOR_DATABASE_URL": "postgresql://other@db2/connector?password=hunter2"}
    settings = load_settings(None, env=ours)
    assert settings["database.url"].startswith("postgresql://other@db2")  # CONNECTOR_DATABASE_URL wins
    assert "hunter2" not in str(settings.redacted())
    with pytest.raises(ConfigError, match="database.url: expected a postgresql:// URL"):
        load_settings(None, env={"CONNECTOR_DATABASE_URL": "mysql://u:pw@h/db"})


@pytest.mark.parametrize(
    "content, env, message",
    [
        ("[server]\nworkers = 0\n", {}, "server.workers: must be from 1 to 256, got 0"),
        ("[worker]\nconcurrency = 2.5\n", {}, "worker.concurrency: expected a whole number, got 2.5"),
        ("[worker]\nconcurrency = 4.0\n", {}, "worker.concurrency: expected a whole number"),
        ("[worker]\nbatch_size = 0\n", {}, "worker.batch_size: must be from 1 to 10000"),
        ("[worker]\nbatch_size = -1\n", {}, "worker.batch_size: must be from 1 to 10000"),
        ("[worker]\nmetrics_port = 70000\n", {}, "worker.metrics_port: must be from 0 to 65535"),
        ("[worker]\npoll_interval_s = 0\n", {}, "worker.poll_interval_s: must be more than 0"),
        ("[target]\ntimeout_s = nan\n", {}, "target.timeout_s: expected a number"),
        ("[retry]\ngive_up_after_s = inf\n", {}, "retry.give_up_after_s: expected a number"),
        ("[retry]\nin_process_attempts = 0\n", {}, "retry.in_process_attempts: must be from 1 to 100"),
        ("[retry]\nfirst_delay_s = 10\nmax_delay_s = 5\n", {}, "retry.max_delay_s: must be at least retry.first_delay_s"),
        ("", {"CONNECTOR_SERVER_WORKERS": "0"}, "server.workers: must be from 1 to 256, got '0' (from CONNECTOR_SERVER_WORKERS)"),
        ("", {"CONNECTOR_WORKER_CONCURRENCY": "2.5"}, "worker.concurrency: expected a whole number"),
        ("", {"CONNECTOR_WORKER_CONCURRENCY": "١٢"}, "worker.concurrency: expected a whole number"),  # ASCII digits only
        ("", {"CONNECTOR_DATABASE_BUSY_TIMEOUT_S": "-1"}, "database.busy_timeout_s: must be more than 0"),
    ],
)
def test_numbers_out_of_range_or_not_whole_are_refused_naming_the_key(tmp_path, content, env, message):
    path = tmp_path / "c.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env=env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_number_setting_has_a_range():
    from connector.config import BOUNDS

    numbers = {s.name for s in SETTINGS if s.type in (int, float)}
    assert numbers == set(BOUNDS), numbers ^ set(BOUNDS)
    for setting in SETTINGS:  # and every default lies within it
        if setting.name in BOUNDS:
            assert BOUNDS[setting.name].problem(setting.default) is None, setting.name


def test_a_misspelt_environment_variable_is_named_with_the_closest_real_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={
        "CONNECTOR_TARGET_PASWORD": "hunter2", "CONNECTOR_WORKER_CONCURENCY": "3",
        "CONNECTOR_TARGET_CARRIERS": "{}", "CONNECTOR_SHOPIFY_API_SECRET": "s", "CONNECTOR_CONFIG_X": "1",
    })
    warnings = "\n".join(settings.warnings)
    assert "CONNECTOR_TARGET_PASWORD is not a setting and is ignored: did you mean CONNECTOR_TARGET_PASSWORD?" in warnings
    assert "did you mean CONNECTOR_WORKER_CONCURRENCY?" in warnings
    assert "CONNECTOR_TARGET_CARRIERS is ignored: target.carriers is a table" in warnings
    assert "CONNECTOR_SHOPIFY_API_SECRET" not in warnings  # a real one
    assert "hunter2" not in warnings  # names only, never values
    assert load_settings(env={"CONNECTOR_ADMIN_TOKEN": "t"}).warnings == ()


def test_redacted_shops_hide_every_secret(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[shops."one.myshopify.com"]\neshop_id = "B"\npassword = "hunter2"\n'
                    'client_credentials = true\nclient_id = "id"\nclient_secret = "cs"\n'
                    '[shops."two.myshopify.com"]\naccess_token = "shpat_x"\n')
    shops = load_settings(path, env={}).redacted_shops()
    assert shops == {"one.myshopify.com": {"eshop_id": "B", "password": "***", "client_credentials": True,
                                           "client_id": "id", "client_secret": "***"},
                     "two.myshopify.com": {"access_token": "***"}}
