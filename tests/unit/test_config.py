from pathlib import Path

import pytest

from zenmail.config import load_settings
from zenmail.errors import InvalidInput


def test_defaults_put_everything_in_the_state_directory(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ZENMAIL_STATE", raising=False)
    monkeypatch.delenv("ZENMAIL_DATABASE_URL", raising=False)
    s = load_settings(tmp_path / "st")
    assert s.state_dir == tmp_path / "st"
    assert s.db_url == f"sqlite:///{(tmp_path / 'st' / 'db' / 'directory.db').resolve()}"


def test_file_then_environment(tmp_path: Path, monkeypatch):
    (tmp_path / "zenmail.toml").write_text('hostname = "mx.acme.test"\nports = "standard"\n')
    monkeypatch.setenv("ZENMAIL_PORTS", "dev")
    s = load_settings(tmp_path)
    assert s.hostname == "mx.acme.test"
    assert s.ports == "dev"


def test_state_from_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZENMAIL_STATE", str(tmp_path / "env-state"))
    assert load_settings().state_dir == tmp_path / "env-state"


def test_postgres_url_uses_psycopg3(tmp_path: Path):
    s = load_settings(tmp_path, database_url="postgresql://u:p@db/zen")
    assert s.db_url == "postgresql+psycopg://u:p@db/zen"


@pytest.mark.parametrize("content,fragment", [
    ("hostname = ", "not valid TOML"),
    ('unknown_key = 1\n', "unknown_key"),
    ('database_url = "mysql://x"\n', "sqlite:// or postgresql://"),
])
def test_bad_settings_are_named(tmp_path: Path, content, fragment):
    (tmp_path / "zenmail.toml").write_text(content)
    with pytest.raises(InvalidInput) as err:
        load_settings(tmp_path)
    assert fragment in str(err.value)
