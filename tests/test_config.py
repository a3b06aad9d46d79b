from pathlib import Path

import pytest

from digest.config import load_config, parse_config
from digest.errors import EXIT_CONFIG, ConfigError


def parse(text: str):
    return parse_config(text, Path("digest.toml"))


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_defaults_fill_what_is_not_written():
    config = parse('[newsletter]\nname = "Le Petit Matin"\n')
    assert config.newsletter.name == "Le Petit Matin"
    assert config.newsletter.locale == "fr"
    assert config.newsletter.timezone == "Europe/Paris"
    assert config.ranking.blurbs == 6
    assert config.ranking.excerpt_chars == 200
    assert config.delivery.backend == "file"


def test_values_are_read_and_nested_tables_work():
    config = parse(
        '[newsletter]\nlocale = "en"\ntimezone = "America/New_York"\n'
        "[ranking]\nblurbs = 3\n[ranking.weights]\nimage = 2\n"
    )
    assert config.newsletter.locale == "en"
    assert config.ranking.blurbs == 3
    assert config.ranking.weights.image == 2.0
    assert config.ranking.weights.priority == 10.0


def test_wrong_type_names_the_key_the_line_and_the_value():
    message = error_of('[newsletter]\nname = "x"\n\n[ranking]\nblurbs = "six"\n')
    assert message == 'digest.toml:5: ranking.blurbs: expected an integer, got "six"'


def test_boolean_is_not_an_integer():
    assert "expected an integer, got true" in error_of("[ranking]\nblurbs = true\n")


def test_unknown_key_suggests_the_close_one():
    message = error_of('[newsletter]\ntimezon = "Europe/Paris"\n')
    assert message == 'digest.toml:2: newsletter.timezon: unknown key; did you mean "timezone"?'


def test_unknown_table_lists_known_ones():
    message = error_of("[zzz]\nx = 1\n")
    assert message.startswith("digest.toml:1: zzz: unknown key; known keys: newsletter")


def test_every_problem_is_reported_at_once():
    message = error_of(
        '[newsletter]\nlocale = "de"\ntimezone = "Mars/Olympus"\n[ranking]\nblurbs = -1\n')
    lines = message.splitlines()
    assert len(lines) == 3
    assert 'newsletter.locale: expected one of fr, en, got "de"' in lines[0]
    assert 'unknown time zone "Mars/Olympus"' in lines[1]
    assert "ranking.blurbs: expected a number of 0 or more, got -1" in lines[2]


def test_a_table_where_a_value_is_expected():
    assert "newsletter: expected a table" in error_of('newsletter = "x"\n')


def test_invalid_url():
    assert "newsletter.url: expected an http(s) address" in error_of(
        '[newsletter]\nurl = "www.x"\n')


def test_invalid_toml_names_the_file():
    message = error_of("[newsletter\n")
    assert message.startswith("digest.toml: invalid TOML")


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(start=tmp_path)
    assert "digest.toml not found" in str(info.value)
    assert "--config" in str(info.value)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "digest.toml").write_text('[sources]\narticles = "posts"\n')
    config = load_config(tmp_path / "digest.toml")
    assert config.resolve(config.sources.articles) == (tmp_path / "posts").resolve()


def test_cli_reports_config_errors_without_traceback(newsletter):
    newsletter.set_config('[ranking]\nblurbs = "six"\n')
    result = newsletter.run("build", "--date", "2025-04-22")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.strip() == (
        'error: digest.toml:2: ranking.blurbs: expected an integer, got "six"')
    assert "Traceback" not in result.stderr


def test_group_hours_must_be_positive(tmp_path):
    from digest.config import load_config
    from digest.errors import ConfigError

    path = tmp_path / "digest.toml"
    path.write_text("[ranking]\ngroup_hours = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "digest.toml:2: ranking.group_hours: expected a number of hours above 0" in str(
        caught.value)
    path.write_text("[ranking]\ngroup_hours = 12\n", encoding="utf-8")
    assert load_config(path).ranking.group_hours == 12
