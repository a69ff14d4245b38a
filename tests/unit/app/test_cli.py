"""The command line: flag spellings, sub-commands, -help, -version, exit codes."""

import contextlib
import io
import unittest

from streamerbrainz import __version__
from streamerbrainz.app import cli
from streamerbrainz.app import config
from streamerbrainz.app.config import ConfigError

TOKEN = "tok-1a2b3c4d5e6f"


class ParseArgsTest(unittest.TestCase):

    def test_no_arguments_runs_the_daemon(self):
        self.assertEqual(cli.parse_args([]), ("run", {}))

    def test_one_dash(self):
        self.assertEqual(cli.parse_args(["-plex-server-url", "http://plex:32400"]),
                         ("run", {"plex-server-url": "http://plex:32400"}))

    def test_two_dashes(self):
        self.assertEqual(cli.parse_args(["--plex-server-url", "http://plex:32400"]),
                         ("run", {"plex-server-url": "http://plex:32400"}))

    def test_flag_equals_value(self):
        self.assertEqual(cli.parse_args(["-webhooks-port=0", "--log-level=debug"]),
                         ("run", {"webhooks-port": "0", "log-level": "debug"}))

    def test_value_holding_an_equals_sign(self):
        _, values = cli.parse_args(["-plex-token-file=/run/a=b"])
        self.assertEqual(values["plex-token-file"], "/run/a=b")

    def test_explicit_run_command(self):
        self.assertEqual(cli.parse_args(["run", "-webhooks-port", "3002"]),
                         ("run", {"webhooks-port": "3002"}))

    def test_players_command(self):
        command, values = cli.parse_args(["players", "-plex-server-url", "http://plex:32400"])
        self.assertEqual(command, "players")
        self.assertEqual(values, {"plex-server-url": "http://plex:32400"})

    def test_repeated_and_comma_separated_machine_ids(self):
        _, values = cli.parse_args(["-plex-machine-id", "aaa", "--plex-machine-id=bbb,ccc",
                                    "-plex-machine-id", "ddd"])
        merged = config.gather(values, {})
        self.assertEqual(merged["plex-machine-id"], ("aaa", "bbb", "ccc", "ddd"))

    def test_bool_flag_alone_is_true(self):
        for arg in ("-version", "--version"):
            with self.subTest(arg=arg):
                _, values = cli.parse_args([arg])
                self.assertIs(config.gather(values, {})["version"], True)

    def test_bool_flag_with_value(self):
        _, values = cli.parse_args(["-version=false"])
        self.assertIs(config.gather(values, {})["version"], False)

    def test_bool_flag_does_not_swallow_the_next_argument(self):
        _, values = cli.parse_args(["-help", "-webhooks-port", "1"])
        self.assertEqual(values["webhooks-port"], "1")
        self.assertIs(config.gather(values, {})["help"], True)

    def test_h_means_help(self):
        _, values = cli.parse_args(["-h"])
        self.assertIs(config.gather(values, {})["help"], True)

    def test_unknown_flag(self):
        with self.assertRaises(ConfigError) as caught:
            cli.parse_args(["-plex-url", "http://plex"])
        self.assertIn("-plex-url", str(caught.exception))

    def test_missing_value(self):
        with self.assertRaises(ConfigError) as caught:
            cli.parse_args(["-webhooks-port", "3001", "-plex-server-url"])
        message = str(caught.exception)
        self.assertIn("-plex-server-url", message)
        self.assertIn("value", message)

    def test_unexpected_positional(self):
        for argv in (["http://plex:32400"], ["-webhooks-port", "1", "extra"],
                     ["run", "players"], ["-"], ["--", "x"]):
            with self.subTest(argv=argv):
                with self.assertRaises(ConfigError) as caught:
                    cli.parse_args(argv)
                self.assertIn("unexpected argument", str(caught.exception))

    def test_double_dash_alone_ends_the_flags(self):
        self.assertEqual(cli.parse_args(["-webhooks-port", "1", "--"]),
                         ("run", {"webhooks-port": "1"}))


class MainTest(unittest.TestCase):

    def run_main(self, argv, environ=None):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv, environ if environ is not None else {})
        return status, out.getvalue(), err.getvalue()

    def assert_usage_error(self, argv, environ=None, names=None):
        status, out, err = self.run_main(argv, environ)
        self.assertEqual(status, 2)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("streamerbrainz: "), lines[0])
        self.assertNotIn("Traceback", err)
        if names:
            self.assertIn(names, lines[0])
        return lines[0]

    def test_version(self):
        for arg in ("-version", "--version"):
            with self.subTest(arg=arg):
                status, out, err = self.run_main([arg])
                self.assertEqual(status, 0)
                self.assertEqual(out.strip(), "streamerbrainz %s" % __version__)
                self.assertEqual(err, "")

    def help_blocks(self):
        """{flag name: (its room's heading, the lines of its block)} from -help."""
        status, out, err = self.run_main(["-help"])
        self.assertEqual(status, 0)
        self.assertEqual(err, "")
        blocks, heading, name = {}, None, None
        for line in out.splitlines():
            if line and not line.startswith(" ") and line.endswith(":"):
                heading, name = line[:-1], None
            elif heading and line.startswith("  -"):
                name = line.split()[0][1:]
                self.assertNotIn(name, blocks, "listed twice")
                blocks[name] = (heading, [line])
            elif name and line.startswith("      "):
                blocks[name][1].append(line)
        return out, blocks

    def test_help_lists_every_flag_with_its_default_and_env_var(self):
        out, blocks = self.help_blocks()
        self.assertEqual(sorted(blocks), sorted(flag.name for flag in config.FLAGS), out)
        for flag in config.FLAGS:
            with self.subTest(flag=flag.name):
                block = " ".join(line.strip() for line in blocks[flag.name][1])
                self.assertIn(flag.help, block)
                if flag.action:
                    self.assertNotIn("STREAMERBRAINZ_", block)
                    self.assertNotIn("(default ", block)
                    continue
                self.assertIn(flag.env, block)
                self.assertIn("(default %s; " % (flag.typed_default or '""'), block)

    def test_help_groups_the_flags_under_a_heading_per_room_in_the_tables_order(self):
        out, blocks = self.help_blocks()
        for room in config.ROOMS:
            for flag in room.FLAGS:
                self.assertEqual(blocks[flag.name][0], room.TITLE, flag.name)
        headings = [line[:-1] for line in out.splitlines()
                    if line.endswith(":") and not line.startswith(" ")]
        self.assertEqual(headings, ["Usage"] + [room.TITLE for room in config.ROOMS])
        self.assertEqual(list(blocks), [flag.name for flag in config.FLAGS])

    def test_help_prints_defaults_as_a_user_types_them(self):
        _, blocks = self.help_blocks()
        shown = {}
        for name, (_, lines) in blocks.items():
            last = lines[-1].strip()
            if last.startswith("(default "):
                shown[name] = last[len("(default "):].split(";")[0]
        self.assertEqual({name: shown[name] for name in (
            "plex-timeout", "plex-notifications", "idle-after", "hook-timeout",
            "plex-poll-interval", "webhooks-port", "plex-machine-id", "log-level")}, {
            "plex-timeout": "5", "plex-notifications": "false", "idle-after": "300",
            "hook-timeout": "10", "plex-poll-interval": "0", "webhooks-port": "3001",
            "plex-machine-id": '""', "log-level": "info"})
        for name, default in shown.items():
            with self.subTest(flag=name):
                self.assertNotRegex(default, r"^[0-9]+\.0$|^(True|False|\(\))$")
                flag = config.FLAGS_BY_NAME[name]
                typed = "" if default == '""' else default
                self.assertEqual(config.convert(flag, typed), flag.default)

    def test_help_names_the_commands_of_each_flag(self):
        _, blocks = self.help_blocks()
        for flag in config.FLAGS:
            with self.subTest(flag=flag.name):
                last = blocks[flag.name][1][-1].strip()
                self.assertTrue(last.endswith("%s)" % cli.commands_of(flag)), last)

    def test_help_lines_fit_a_terminal(self):
        status, out, _ = self.run_main(["-help"])
        for line in out.splitlines():
            self.assertLessEqual(len(line), 79, line)

    def test_help_mentions_both_commands(self):
        _, out, _ = self.run_main(["--help"])
        self.assertIn("players", out)
        self.assertIn("run", out)

    def test_short_help(self):
        status, out, _ = self.run_main(["-h"])
        self.assertEqual(status, 0)
        self.assertIn("-plex-server-url", out)

    def test_unknown_flag_exits_2(self):
        self.assert_usage_error(["-nope"], names="-nope")

    def test_missing_value_exits_2(self):
        self.assert_usage_error(["-webhooks-port"], names="-webhooks-port")

    def test_unexpected_argument_exits_2(self):
        self.assert_usage_error(["start"], names="start")

    def test_bad_port_exits_2(self):
        self.assert_usage_error(["-webhooks-port", "thirty"], names="-webhooks-port")
        self.assert_usage_error(["-webhooks-port", "70000"], names="-webhooks-port")

    def test_bad_bind_exits_2(self):
        self.assert_usage_error(["-webhooks-bind", "localhost"], names="-webhooks-bind")

    def test_bad_log_level_from_environment_exits_2(self):
        self.assert_usage_error([], {"STREAMERBRAINZ_LOG_LEVEL": "loud"}, names="-log-level")

    def test_token_in_url_exits_2_without_echoing_it(self):
        line = self.assert_usage_error(
            ["-plex-server-url", "http://plex:32400/?X-Plex-Token=" + TOKEN],
            names="-plex-server-url")
        self.assertNotIn(TOKEN, line)

    def test_missing_token_file_exits_2(self):
        self.assert_usage_error(["-plex-server-url", "http://plex:32400",
                                 "-plex-token-file", "/nonexistent/streamerbrainz/token"],
                                names="-plex-token-file")

    def test_players_without_server_exits_2(self):
        self.assert_usage_error(["players"], names="-plex-server-url")


class FlagScopeTest(unittest.TestCase):
    """A flag belongs to the sub-commands that read it."""

    run_main = MainTest.run_main
    assert_usage_error = MainTest.assert_usage_error

    def test_the_commands_read_the_flags_their_code_uses(self):
        def names(command):
            return {flag.name for flag in config.flags_of(command)}
        general = {"config", "log-level", "version", "help"}
        self.assertEqual(names("players"), general | {
            "plex-server-url", "plex-token-file", "plex-ca-file", "plex-timeout"})
        self.assertEqual(names("status"), general | {"url"})
        listing = {"since", "player", "limit", "json", "export"}
        self.assertEqual(names("history"), general | {"state-dir"} | listing)
        self.assertEqual(names("run"), {flag.name for flag in config.FLAGS} - {"url", "check"} - listing)
        self.assertEqual(names("config"), names("run") | {"check"})

    def test_every_flag_names_known_commands(self):
        self.assertEqual(tuple(cli.COMMANDS), config.COMMANDS)
        for flag in config.FLAGS:
            with self.subTest(flag=flag.name):
                self.assertTrue(flag.commands)
                self.assertLessEqual(set(flag.commands), set(cli.COMMANDS))

    def test_a_flag_of_another_command_is_a_usage_error_naming_both(self):
        cases = [(["status", "-on-play", "x"], "-on-play", "status"),
                 (["status", "--webhooks-port=1"], "-webhooks-port", "status"),
                 (["run", "-url", "x"], "-url", "run"),
                 (["-url=http://127.0.0.1:3001"], "-url", "run"),
                 (["players", "-plex-machine-id", "x"], "-plex-machine-id", "players"),
                 (["players", "-plex-server-url", "http://plex:32400", "-on-stop", "x"],
                  "-on-stop", "players")]
        for argv, flag, command in cases:
            with self.subTest(argv=argv):
                line = self.assert_usage_error(argv, names=flag + ":")
                self.assertIn(" %s " % command, line)
                with self.assertRaises(ConfigError):
                    cli.parse_args(argv)

    def test_the_message_says_which_commands_take_the_flag(self):
        with self.assertRaises(ConfigError) as caught:
            cli.parse_args(["status", "-plex-timeout", "3"])
        self.assertEqual(str(caught.exception), "-plex-timeout: not a flag of status "
                                                "(it is for run and players; see -help)")

    def test_each_command_takes_its_own_flags(self):
        for command in cli.COMMANDS:
            for flag in config.flags_of(command):
                with self.subTest(command=command, flag=flag.name):
                    arg = "-%s=%s" % (flag.name, flag.typed_default)
                    self.assertEqual(cli.parse_args([command, arg])[0], command)

    def test_help_and_version_work_with_every_command(self):
        for command in cli.COMMANDS:
            with self.subTest(command=command):
                self.assertEqual(self.run_main([command, "-version"])[0], 0)
                self.assertEqual(self.run_main([command, "-help"])[0], 0)

    def test_another_commands_variables_are_not_read(self):
        environ = {"STREAMERBRAINZ_WEBHOOKS_PORT": "abc", "STREAMERBRAINZ_ON_PLAY": "'open",
                   "STREAMERBRAINZ_PLEX_MACHINE_ID": "abc", "STREAMERBRAINZ_URL": "http://[::1"}
        # players reads none of these: it fails only for want of its own -plex-server-url.
        line = self.assert_usage_error(["players"], environ)
        self.assertEqual(line, "streamerbrainz: -plex-server-url: required, "
                               "e.g. http://plex.home.arpa:32400")
        values = config.gather({}, environ, "status")
        self.assertEqual(values["webhooks-port"], 3001)
        self.assertEqual(values["on-play"], "")
        self.assertEqual(values["url"], "http://[::1")
        values = config.gather({}, {"STREAMERBRAINZ_URL": "http://[::1"}, "run")
        self.assertEqual(config.build(values, {}).url, "http://127.0.0.1:3001")

    def test_a_command_reads_its_own_variables(self):
        environ = {"STREAMERBRAINZ_PLEX_TIMEOUT": "7", "STREAMERBRAINZ_LOG_LEVEL": "debug",
                   "STREAMERBRAINZ_PLEX_MACHINE_ID": "abc"}
        values = config.gather({}, environ, "players")
        self.assertEqual((values["plex-timeout"], values["log-level"], values["plex-machine-id"]),
                         (7.0, "debug", ()))
        self.assertEqual(config.gather({}, environ, "run")["plex-machine-id"], ("abc",))


class EnvironmentErrorTest(unittest.TestCase):
    """A bad value from the environment names its variable; from the command line, the flag."""

    assert_usage_error = MainTest.assert_usage_error
    run_main = MainTest.run_main

    def test_a_bad_number(self):
        self.assertEqual(
            self.assert_usage_error([], {"STREAMERBRAINZ_WEBHOOKS_PORT": "abc"}),
            "streamerbrainz: STREAMERBRAINZ_WEBHOOKS_PORT: 'abc' is not a whole number between "
            "0 and 65535 (-webhooks-port)")
        self.assertEqual(
            self.assert_usage_error(["-webhooks-port", "abc"]),
            "streamerbrainz: -webhooks-port abc: not a whole number between 0 and 65535")

    def test_the_command_line_wins_and_is_named(self):
        self.assertEqual(
            self.assert_usage_error(["-webhooks-port", "abc"],
                                    {"STREAMERBRAINZ_WEBHOOKS_PORT": "3001"}),
            "streamerbrainz: -webhooks-port abc: not a whole number between 0 and 65535")

    def test_a_bad_bool(self):
        self.assertEqual(
            self.assert_usage_error([], {"STREAMERBRAINZ_IDLE_AT_START": "maybe"}),
            "streamerbrainz: STREAMERBRAINZ_IDLE_AT_START: 'maybe' is not true or false "
            "(-idle-at-start)")

    def test_values_refused_when_building(self):
        cases = {
            "STREAMERBRAINZ_LOG_LEVEL": ("loud", "STREAMERBRAINZ_LOG_LEVEL: 'loud' is not one "
                                         "of error, warn, info, debug (-log-level)"),
            "STREAMERBRAINZ_WEBHOOKS_BIND": ("localhost", "STREAMERBRAINZ_WEBHOOKS_BIND: "
                                             "'localhost' is not an IP address (e.g. 0.0.0.0, "
                                             "127.0.0.1, ::) (-webhooks-bind)"),
            "STREAMERBRAINZ_PLEXAMP_URL": ("ftp://x", "STREAMERBRAINZ_PLEXAMP_URL: must start "
                                           "with http:// or https://, e.g. "
                                           "http://127.0.0.1:32500 (-plexamp-url)"),
            "STREAMERBRAINZ_ON_STOP": ("'open", "STREAMERBRAINZ_ON_STOP: cannot split \"'open\" "
                                       "like a shell would: No closing quotation (-on-stop)"),
        }
        for variable, (value, expected) in cases.items():
            with self.subTest(variable=variable):
                self.assertEqual(self.assert_usage_error([], {variable: value}),
                                 "streamerbrainz: " + expected)

    def test_a_file_named_in_the_environment(self):
        environ = {"STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex:32400",
                   "STREAMERBRAINZ_PLEX_TOKEN_FILE": "/nonexistent/sbz/token"}
        self.assertEqual(self.assert_usage_error([], environ),
                         "streamerbrainz: STREAMERBRAINZ_PLEX_TOKEN_FILE /nonexistent/sbz/token: "
                         "no such file (-plex-token-file)")
        self.assertEqual(self.assert_usage_error(["-plex-token-file", "/nonexistent/sbz/t"],
                                                 environ),
                         "streamerbrainz: -plex-token-file /nonexistent/sbz/t: no such file")

    def test_the_refused_flag_is_named_by_where_its_own_value_came_from(self):
        self.assertEqual(self.assert_usage_error([], {"STREAMERBRAINZ_PLEX_NOTIFICATIONS": "1"}),
                         "streamerbrainz: STREAMERBRAINZ_PLEX_NOTIFICATIONS: needs "
                         "-plex-server-url (-plex-notifications)")
        self.assertEqual(self.assert_usage_error(["-plex-notifications"],
                                                 {"STREAMERBRAINZ_LOG_LEVEL": "info"}),
                         "streamerbrainz: -plex-notifications: needs -plex-server-url")

    def test_a_credentials_file_is_not_blamed_on_an_empty_variable(self):
        import tempfile
        with tempfile.TemporaryDirectory() as credentials:
            path = credentials + "/plex-token"
            with open(path, "w"):
                pass
            environ = {"CREDENTIALS_DIRECTORY": credentials, "STREAMERBRAINZ_PLEX_TOKEN_FILE": "",
                       "STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex:32400"}
            self.assertEqual(self.assert_usage_error([], environ),
                             "streamerbrainz: -plex-token-file %s: is empty" % path)


if __name__ == "__main__":
    unittest.main()
