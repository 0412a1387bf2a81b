from pathlib import Path

import pytest

from zenmail.config import load_settings
from zenmail.devtools.stackdir import write_settings
from zenmail.errors import InvalidInput


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    import os
    for var in list(os.environ):
        if var.startswith("ZENMAIL_"):
            monkeypatch.delenv(var)


def test_defaults_put_everything_in_the_state_directory(tmp_path: Path):
    s = load_settings(tmp_path / "st")
    assert s.state_dir == tmp_path / "st"
    assert s.db_url == f"sqlite:///{(tmp_path / 'st' / 'db' / 'directory.db').resolve()}"
    assert s.mail_store == (tmp_path / "st" / "mail").resolve()
    assert s.listen_addresses == ["127.0.0.1"]
    assert s.source_of("hostname") == "default"


def test_file_then_environment_then_command_line(tmp_path: Path, monkeypatch):
    write_settings(tmp_path, {"hostname": "mx.acme.test",
                              "ports": {"plan": "standard", "base": 20000}})
    monkeypatch.setenv("ZENMAIL_PORTS_PLAN", "dev")
    s = load_settings(tmp_path)
    assert s.hostname == "mx.acme.test"
    assert s.ports.plan == "dev" and s.ports.base == 20000
    assert s.source_of("hostname") == str(tmp_path / "zenmail.toml")
    assert s.source_of("ports.plan") == "ZENMAIL_PORTS_PLAN"
    s = load_settings(tmp_path, {"ports.base": 30000})
    assert s.ports.base == 30000 and s.source_of("ports.base") == "command line"
    assert s.with_values({"ports.plan": "standard"}).listen_addresses == ["0.0.0.0", "::"]


def test_every_field_is_listed_with_its_source(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZENMAIL_API_PORT", "18081")
    rows = {key: (value, source) for key, value, _, source in load_settings(tmp_path).fields()}
    assert rows["api.port"] == (18081, "ZENMAIL_API_PORT")
    assert {"hostname", "database.url", "ports.plan", "ports.base", "listen.addresses",
            "mail.store", "tls.cert", "tls.key", "endpoints.lmtp", "endpoints.sasl"} <= set(rows)


def test_old_flat_keys_and_stack_toml_still_read(tmp_path: Path):
    (tmp_path / "zenmail.toml").write_text('database_url = "sqlite:////tmp/x.db"\n'
                                           'bind_host = "::1"\nports = "standard"\n')
    (tmp_path / "stack.toml").write_text("[ports]\nimap = 20143\n")
    s = load_settings(tmp_path)
    assert s.database.url == "sqlite:////tmp/x.db"
    assert s.listen.addresses == ["::1"]
    assert s.ports.plan == "standard" and s.ports.pins == {"imap": 20143}
    assert s.source_of("ports.imap") == str(tmp_path / "stack.toml")


def test_state_from_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZENMAIL_STATE", str(tmp_path / "env-state"))
    assert load_settings().state_dir == tmp_path / "env-state"


def test_postgres_url_uses_psycopg3(tmp_path: Path):
    s = load_settings(tmp_path, {"database.url": "postgresql://u:p@db/zen"})
    assert s.db_url == "postgresql+psycopg://u:p@db/zen"


@pytest.mark.parametrize("content,fragment", [
    ("hostname = ", "not valid TOML"),
    ('unknown_key = 1\n', "setting unknown_key: unknown setting"),
    ('database_url = "mysql://x"\n', "setting database.url: must start with sqlite://"),
    ('[ports]\nbase = "x"\n', "setting ports.base"),
    ('[ports]\nimap = 70000\n', "not a port number"),
    ('[listen]\naddresses = ["localhost"]\n', "'localhost' is not an IPv4 or IPv6 address"),
    ('[tls]\ncert = "/c.pem"\n', "give both cert and key"),
    ('[endpoints]\nlmtp = "10.0.0.2:24"\n', "neither inet:HOST:PORT nor unix:/PATH"),
    ('hostname = "mail"\n', "not a fully qualified host name"),
    ('[relay]\nhost = "smtp.provider.example:587"\n', "the port goes in `port`"),
    ('[relay]\nhost = "smtp.provider.example"\nusername = "acme"\n',
     "give both username and password"),
    ('[relay]\nusername = "acme"\npassword = "pw"\n', "other users can read it"),
    ('[relay]\ntls = "none"\n', "setting relay.tls"),
])
def test_bad_settings_are_named_with_their_source(tmp_path: Path, content, fragment):
    (tmp_path / "zenmail.toml").write_text(content)
    with pytest.raises(InvalidInput) as err:
        load_settings(tmp_path)
    assert fragment in str(err.value)
    if "TOML" not in fragment:
        assert str(tmp_path / "zenmail.toml") in str(err.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZENMAIL_PORTS_BASE", "ten")
    with pytest.raises(InvalidInput, match="setting ports.base: .*ZENMAIL_PORTS_BASE"):
        load_settings(tmp_path)


def test_relay_password_only_from_a_private_file_and_never_shown(tmp_path: Path, monkeypatch):
    path = tmp_path / "zenmail.toml"
    path.write_text('[relay]\nhost = "[smtp.provider.example]"\nport = 465\n'
                    'username = "acme"\npassword = "s3cret pass"\n')
    path.chmod(0o644)
    with pytest.raises(InvalidInput, match=f"other users can read it.*chmod 600 {path}"):
        load_settings(tmp_path)
    path.chmod(0o600)
    s = load_settings(tmp_path)
    assert (s.relay.host, s.relay.port, s.relay.password) == ("smtp.provider.example", 465,
                                                              "s3cret pass")
    rows = {key: value for key, value, _, _ in s.fields()}
    assert rows["relay.password"] == "********" and rows["relay.username"] == "acme"
    assert "s3cret" not in repr(s.fields())
    path.write_text('[relay]\nusername = "acme"\npassword = "s3cret"\n')
    with pytest.raises(InvalidInput, match="a relay login needs the relay's host too"):
        load_settings(tmp_path)
    # From the environment the file's mode does not matter.
    path.write_text('[relay]\nhost = "smtp.provider.example"\nusername = "acme"\n')
    path.chmod(0o644)
    monkeypatch.setenv("ZENMAIL_RELAY_PASSWORD", "from-env")
    assert load_settings(tmp_path).relay.password == "from-env"
