"""``--store``, ``--address``, ``--config`` and ``--debug`` before or after the subcommand mean the same."""

import pytest

from jobs.cli import SUBCOMMANDS, main
from jobs.cli_parser import build_parser, subcommand_parser
from jobs.config import DEFAULT_STORE, read_config

PARSER = build_parser(SUBCOMMANDS, lazy=True)


def parse(*argv):
    return vars(PARSER.parse_args(list(argv)))


@pytest.mark.parametrize("flags", [["--store", "s3://zoo/store"], ["--store=s3://zoo/store"], ["--address", "ray://head:10001"],
                                   ["--debug"], ["--store", "/a", "--address", "auto"]])
def test_a_flag_before_the_subcommand_is_the_same_as_after_it(flags):
    assert parse(*flags, "models", "list") == parse("models", "list", *flags)
    assert parse(*flags, "similarity", "--layer", "x") == parse("similarity", "--layer", "x", *flags)


def test_the_defaults_are_the_same_in_either_form():
    args = parse("models", "list")
    assert (args["store"], args["address"], args["config"], args["debug"]) == (DEFAULT_STORE, None, None, False)
    assert parse("--debug", "models", "list")["debug"] is True


def test_the_flag_after_the_subcommand_wins_over_the_one_before():
    assert parse("--store", "/before", "models", "list", "--store", "/after")["store"] == "/after"


def test_a_flag_the_subcommand_does_not_take_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        PARSER.parse_args(["--store", "/s", "train-zoo", "--smoke-test"])
    assert exit_info.value.code == 2
    assert "--store is not an option of train-zoo" in capsys.readouterr().err


def test_a_required_flag_may_come_first():
    assert parse("--address", "http://head:8265", "submit", "--", "taxonomy")["address"] == "http://head:8265"


@pytest.mark.parametrize("position", ["before", "after"])
def test_config_keys_apply_and_flags_win_in_either_position(tmp_path, position):
    config = tmp_path / "settings.yaml"
    config.write_text("store: s3://from-config\nmodels: [enc9]\n")
    flag = ["--config", str(config)]
    argv = [*flag, "similarity"] if position == "before" else ["similarity", *flag]
    parser = build_parser(SUBCOMMANDS, lazy=True)
    child = subcommand_parser(parser, "similarity")
    child.set_defaults(**read_config(config, child))
    assert vars(parser.parse_args(argv))["store"] == "s3://from-config"
    assert vars(parser.parse_args(argv))["models"] == ["enc9"]
    assert vars(parser.parse_args(["--store", "/flag", *argv]))["store"] == "/flag"
    assert vars(parser.parse_args([*argv, "--store", "/flag"]))["store"] == "/flag"


def test_main_reads_a_config_given_before_the_subcommand(capsys, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text(f"store: {tmp_path / 'store'}\n")
    assert main(["--config", str(config), "models", "list"]) == 0
    assert (tmp_path / "store").exists()  # the config's store was opened
    config.write_text("no_such_flag: 1\n")
    assert main(["--config", str(config), "models", "list"]) == 2
    assert "unknown key 'no_such_flag'" in capsys.readouterr().err


def test_help_names_the_global_flags(capsys):
    with pytest.raises(SystemExit):
        PARSER.parse_args(["--help"])
    text = capsys.readouterr().out
    assert all(flag in text for flag in ("--store", "--address", "--config", "--debug"))
    assert "before or after the command" in text
