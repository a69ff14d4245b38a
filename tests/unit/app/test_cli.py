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

    def test_help_lists_every_flag_with_its_default_and_env_var(self):
        status, out, err = self.run_main(["-help"])
        self.assertEqual(status, 0)
        self.assertEqual(err, "")
        lines = out.splitlines()
        starts = {}
        for index, line in enumerate(lines):
            stripped = line.strip()
            for flag in config.FLAGS:
                if stripped == "-" + flag.name or stripped.startswith("-%s " % flag.name):
                    starts[flag.name] = index
        for flag in config.FLAGS:
            with self.subTest(flag=flag.name):
                self.assertIn(flag.name, starts, out)
                if flag.name in ("help", "version"):
                    continue
                later = sorted(i for i in starts.values() if i > starts[flag.name])
                block = "\n".join(lines[starts[flag.name]:later[0] if later else None])
                self.assertIn(flag.env, block)
                default = flag.default
                if isinstance(default, tuple):
                    default = ",".join(default)
                shown = '""' if default == "" else str(default)
                self.assertIn("default %s" % shown, block)

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


if __name__ == "__main__":
    unittest.main()
