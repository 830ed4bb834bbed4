"""Configuration: defaults, file, environment; and that docs/configuration.md lists every setting."""
from __future__ import annotations

from pathlib import Path

import pytest

from hjertekom_core.config import SETTINGS, load_config
from hjertekom_core.errors import ConfigError

from paths import REPO


def test_defaults_put_everything_beside_the_embedded_store(tmp_path: Path) -> None:
    config = load_config(environ={"HJERTEKOM_CONFIG": str(tmp_path / "absent.toml")})
    assert config.database_url == "sqlite:///var/hjertekom.sqlite"
    assert config.log_file == Path("var/hjertekom.log")
    assert config.completion_limit_days == 180
    assert config.is_sqlite


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "hjertekom.toml"
    file.write_text('[hjertekom]\ndata_dir = "/srv/hk"\ncompletion_limit_days = 150\nlanguage = "en"\n')
    config = load_config(file, environ={"HJERTEKOM_COMPLETION_LIMIT_DAYS": "170"})
    assert config.data_dir == Path("/srv/hk")
    assert config.database_url == "sqlite:////srv/hk/hjertekom.sqlite"
    assert config.pseudonym_key_file == Path("/srv/hk/pseudonym.key")
    assert (config.completion_limit_days, config.language) == (170, "en")
    url = "postgresql+psycopg://hk@db/hk"
    assert load_config(file, environ={"HJERTEKOM_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(("content", "env", "message"), [
    ("[hjertekom]\nlanguage = 'fr'\n", {}, "language"),
    ("not toml = = =", {}, "not valid TOML"),
    ("", {"HJERTEKOM_COMPLETION_LIMIT_DAYS": "six months"}, "HJERTEKOM_COMPLETION_LIMIT_DAYS"),
    ("", {"HJERTEKOM_COMPLETION_LIMIT_DAYS": "0"}, "positive"),
])
def test_bad_configuration_says_what_is_wrong(tmp_path: Path, content: str, env: dict, message: str) -> None:
    file = tmp_path / "hjertekom.toml"
    file.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(file, environ=env)


def test_every_setting_is_documented() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert setting.env in doc and f"`{setting.name}`" in doc, setting.name


def test_indicator_standards_from_file_and_environment(tmp_path: Path) -> None:
    file = tmp_path / "hjertekom.toml"
    file.write_text("[hjertekom]\nsuppress_below = 3\n[hjertekom.standards]\nk1 = 0.8\nK5 = 0.6\n")
    config = load_config(file, environ={})
    assert config.standards == {"K1": 0.8, "K5": 0.6} and config.suppress_below == 3
    assert load_config(file, environ={"HJERTEKOM_STANDARDS": "K2=0.7"}).standards == {"K2": 0.7}
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_config(file, environ={"HJERTEKOM_STANDARDS": "K2=70"})
