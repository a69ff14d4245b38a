"""The settings file: what it may hold, every error line, where it is found, and precedence.

The commands a person runs (``config``, ``config -check``, the daemon) are
driven through ``cli.main`` with output captured; the daemon's own reading
at start and on SIGHUP is in tests/e2e/test_settings.py.
"""

import contextlib
import io
import os
import re
import tempfile
import unittest

from streamerbrainz.app import cli, config, settings_file
from streamerbrainz.app.config import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
EXAMPLE = os.path.join(REPO, "examples", "streamerbrainz.conf")
TOKEN = "tok-5e4d3c2b1a09"


class SettingsFileCase(unittest.TestCase):
    """A temporary directory, and settings files written into it."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def write(self, text, name=settings_file.FILE_NAME, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(path, mode)
        return path

    def error(self, text, mode=0o600):
        """The one line a file with ``text`` is refused with, its path shown as F."""
        path = self.write(text, mode=mode)
        with self.assertRaises(ConfigError) as caught:
            settings_file.read(path)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message.replace(path, "F")

    def values(self, text):
        """``{flag name: value}`` that a file with ``text`` sets."""
        return {name: found[0] for name, found in settings_file.read(self.write(text)).items()}


class ReadTest(SettingsFileCase):

    def test_a_key_is_the_flag_without_its_rooms_prefix(self):
        self.assertEqual(self.values(
            "[plex]\nserver-url = http://plex:32400\ntimeout = 3\n"
            "[webhooks]\nport = 4000\nallow = 10.0.0.0/8\n"
            "[hooks]\non-play = /bin/amp on\ntimeout = 2\nnotify-url = http://ha:8123/x\n"
            "[camilladsp]\nurl = ws://127.0.0.1:1234\n"
            "[players]\nidle-after = 60\n[history]\ndays = 30\n[general]\nlog-level = debug\n"), {
            "plex-server-url": "http://plex:32400", "plex-timeout": 3.0, "webhooks-port": 4000,
            "webhooks-allow": ("10.0.0.0/8",), "on-play": "/bin/amp on", "hook-timeout": 2.0,
            "notify-url": ("http://ha:8123/x",), "camilladsp-url": "ws://127.0.0.1:1234",
            "idle-after": 60.0, "history-days": 30, "log-level": "debug"})

    def test_lists_take_commas_or_one_item_a_line(self):
        self.assertEqual(self.values("[plex]\nmachine-id = a, b\n")["plex-machine-id"],
                         ("a", "b"))
        self.assertEqual(self.values("[plex]\nmachine-id =\n    a\n    b, c\n\n# x\n")
                         ["plex-machine-id"], ("a", "b", "c"))
        self.assertEqual(self.values("[hooks]\nnotify-url =\n  http://a:1/x\n  http://b:2/y\n")
                         ["notify-url"], ("http://a:1/x", "http://b:2/y"))

    def test_booleans_are_yes_no_true_false_on_off(self):
        for word, value in (("yes", True), ("No", False), ("true", True), ("FALSE", False),
                            ("on", True), ("off", False)):
            with self.subTest(word=word):
                self.assertEqual(self.values("[plex]\nnotifications = %s\n" % word),
                                 {"plex-notifications": value})

    def test_nothing_is_interpolated(self):
        self.assertEqual(self.values("[hooks]\non-play = printf '100%%s %(x)s' $HOME\n"),
                         {"on-play": "printf '100%%s %(x)s' $HOME"})

    def test_keys_are_case_insensitive_and_comments_take_both_marks(self):
        self.assertEqual(self.values("# a\n; b\n[webhooks]\n  # c\nPort = 1\n"),
                         {"webhooks-port": 1})

    def test_each_value_comes_with_its_line_and_key(self):
        path = self.write("# settings\n\n[plex]\n# the server\nserver-url = http://p:1\n"
                          "machine-id =\n  a\n  b\ntimeout = 2\n")
        found = settings_file.read(path)
        self.assertEqual(found["plex-server-url"][1:], (path + ":5", "[plex] server-url"))
        self.assertEqual(found["plex-machine-id"][1], path + ":6")
        self.assertEqual(found["plex-timeout"][1], path + ":9")

    def test_a_missing_file_is_no_settings_unless_named(self):
        path = os.path.join(self.dir, "absent.conf")
        self.assertEqual(settings_file.read(path, required=False), {})
        self.assertEqual(settings_file.read("", required=False), {})
        with self.assertRaises(ConfigError) as caught:
            settings_file.read(path, required=True)
        self.assertEqual(str(caught.exception), "-config %s: no such file" % path)


class ErrorLineTest(SettingsFileCase):
    """Each refusal is one line: the file, the line, the key, and the fix."""

    def test_unknown_key_suggests_the_close_one(self):
        self.assertEqual(self.error("[plex]\nserver-url = http://p:1\n\nmachine-ids = a\n"),
                         "F:4: [plex] machine-ids: unknown key; did you mean machine-id?")

    def test_unknown_key_with_nothing_close_lists_the_keys(self):
        line = self.error("[history]\nwhatever = 1\n")
        self.assertEqual(line, "F:2: [history] whatever: unknown key; the keys of [history] "
                               "are state-dir, days")

    def test_a_key_of_another_section_names_it(self):
        self.assertEqual(self.error("[plex]\nport = 3001\n"),
                         "F:2: [plex] port: not a key of [plex]; it belongs in [webhooks]")

    def test_unknown_section(self):
        self.assertEqual(self.error("[plex]\n[webhook]\nport = 1\n"),
                         "F:2: [webhook]: unknown section; did you mean [webhooks]?")
        self.assertIn("the sections are [plex], [webhooks], [hooks]",
                      self.error("[zzz]\n"))

    def test_a_secret_as_a_value_says_to_use_its_file_and_never_repeats_it(self):
        for text, fix in (("[plex]\ntoken = %s\n" % TOKEN, "token-file"),
                          ("[webhooks]\nsecret = %s\n" % TOKEN, "secret-file")):
            with self.subTest(fix=fix):
                line = self.error(text)
                self.assertRegex(line, r"^F:2: \[\w+\] \w+: a secret is never a value in this "
                                       r"file; .* set %s to its path$" % fix)
                self.assertNotIn(TOKEN, line)

    def test_a_line_that_is_no_setting_is_not_repeated(self):
        line = self.error("[plex]\n%s\n" % TOKEN)
        self.assertEqual(line, "F:2: not key = value, a [section] or a # comment")

    def test_set_twice(self):
        self.assertEqual(self.error("[plex]\ntimeout = 1\n# again\nTimeout = 2\n"),
                         "F:4: [plex] timeout: set twice; keep one")

    def test_a_section_twice(self):
        self.assertEqual(self.error("[plex]\ntimeout = 1\n[hooks]\n[plex]\n"),
                         "F:4: [plex]: a second time; put its keys under the first")

    def test_a_setting_before_any_section(self):
        self.assertEqual(self.error("port = 1\n"), "F:1: a setting before any [section]; "
                                                   "put it under its room's, e.g. [plex]")

    def test_bad_values_name_the_line_the_key_and_the_flag(self):
        cases = [
            ("[webhooks]\nport = abc\n",
             "F:2: [webhooks] port: 'abc' is not a whole number between 0 and 65535 "
             "(-webhooks-port)"),
            ("[plex]\nnotifications = maybe\n",
             "F:2: [plex] notifications: maybe is not yes or no (yes/no, true/false, on/off)"),
            ("[plex]\n\ntimeout =\n",
             "F:3: [plex] timeout: '' is not a number between 0.1 and 300 (-plex-timeout)"),
            ("[plex]\nserver-url = http://a\n  http://b\n",
             "F:2: [plex] server-url: a value on several lines; only a list may (put it on "
             "one)"),
        ]
        for text, wanted in cases:
            with self.subTest(text=text):
                self.assertEqual(self.error(text), wanted)

    def test_a_file_that_is_not_utf8(self):
        self.assertEqual(self.error(b"[plex]\n# caf\xe9\n"), "F:2: is not UTF-8 text")

    def test_a_file_others_may_write_is_refused(self):
        for mode in (0o664, 0o646, 0o666):
            with self.subTest(mode=oct(mode)):
                line = self.error("[plex]\n", mode=mode)
                self.assertEqual(line, "F: may be written by its group or by anyone, and it "
                                       "names commands the daemon runs; make it the owner's "
                                       "alone (chmod go-w F)")
        self.assertEqual(settings_file.read(self.write("[plex]\n", mode=0o644)), {})

    def test_a_directory_is_refused(self):
        with self.assertRaises(ConfigError) as caught:
            settings_file.read(self.dir)
        self.assertEqual(str(caught.exception), "-config %s: is a directory, not a file"
                         % self.dir)


class LocateTest(unittest.TestCase):

    def test_config_given_wins_and_must_exist(self):
        self.assertEqual(settings_file.locate("/x.conf", {"CONFIGURATION_DIRECTORY": "/d"}),
                         ("/x.conf", True))

    def test_an_empty_config_means_no_file(self):
        self.assertEqual(settings_file.locate("", {"CONFIGURATION_DIRECTORY": "/d"}),
                         ("", False))

    def test_systemds_configuration_directory_then_etc(self):
        self.assertEqual(settings_file.locate(None, {"CONFIGURATION_DIRECTORY": "/d:/e"}),
                         ("/d/streamerbrainz.conf", False))
        self.assertEqual(settings_file.locate(None, {}),
                         ("/etc/streamerbrainz/streamerbrainz.conf", False))


class PrecedenceTest(SettingsFileCase):
    """A flag, then the environment, then the file, then the default."""

    def gather(self, text, cli_values=None, environ=None):
        found = settings_file.read(self.write(text))
        return config.gather(cli_values or {}, environ or {}, "run", found)

    def test_every_combination(self):
        text = "[webhooks]\nport = 4000\n"
        env = {"STREAMERBRAINZ_WEBHOOKS_PORT": "5000"}
        cases = [
            ({}, {}, 4000, "file"),
            ({}, env, 5000, "STREAMERBRAINZ_WEBHOOKS_PORT"),
            ({"webhooks-port": "6000"}, {}, 6000, "flag"),
            ({"webhooks-port": "6000"}, env, 6000, "flag"),
        ]
        for cli_values, environ, port, origin in cases:
            with self.subTest(cli=cli_values, env=environ):
                values = self.gather(text, cli_values, environ)
                self.assertEqual(values["webhooks-port"], port)
                wanted = self.dir + "/streamerbrainz.conf:2" if origin == "file" else origin
                self.assertEqual(values.origins["webhooks-port"], wanted)
        values = self.gather("[plex]\n")
        self.assertEqual((values["webhooks-port"], values.origins["webhooks-port"]),
                         (3001, "default"))

    def test_an_empty_environment_value_still_wins_over_the_file(self):
        values = self.gather("[hooks]\non-play = /bin/true\n", environ={
            "STREAMERBRAINZ_ON_PLAY": ""})
        self.assertEqual(values["on-play"], "")

    def test_a_bad_value_found_in_validation_names_the_file_line_and_key(self):
        values = self.gather("[camilladsp]\n\npause = loud\n")
        with self.assertRaises(ConfigError) as caught:
            config.build(values, {})
        self.assertEqual(str(caught.exception).replace(self.dir + "/", ""),
                         "streamerbrainz.conf:3: [camilladsp] pause: 'loud' is not mute, off "
                         "or a level in dB from -150 to 0 (e.g. -40) (-camilladsp-pause)")

    def test_a_command_reads_only_its_own_settings_from_the_file(self):
        found = settings_file.read(self.write("[webhooks]\nport = 4000\n"
                                              "[general]\nurl = http://127.0.0.1:4000\n"))
        status = config.gather({}, {}, "status", found)
        self.assertEqual((status["webhooks-port"], status["url"]),
                         (3001, "http://127.0.0.1:4000"))


class CommandTest(SettingsFileCase):
    """``streamerbrainz config`` and ``config -check``, and the daemon's refusal to start."""

    def run_main(self, argv, environ=None):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv, environ if environ is not None else {})
        return status, out.getvalue(), err.getvalue()

    def setUp(self):
        super().setUp()
        self.token = os.path.join(self.dir, "plex-token")
        with open(self.token, "w") as handle:
            handle.write(TOKEN + "\n")
        os.chmod(self.token, 0o600)

    def test_config_prints_each_setting_its_value_and_where_it_came_from(self):
        path = self.write("[plex]\nserver-url = http://plex:32400\ntoken-file = %s\n"
                          "machine-id = a, b\n[webhooks]\nport = 4000\n" % self.token)
        status, out, err = self.run_main(
            ["config", "-config", path, "-plex-timeout", "3"],
            {"STREAMERBRAINZ_WEBHOOKS_PORT": "5000"})
        self.assertEqual((status, err), (0, ""))
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
        self.assertEqual(out.split()[:3], ["SETTING", "VALUE", "FROM"])
        self.assertEqual(rows["plex-server-url"], ["http://plex:32400", path + ":2"])
        self.assertEqual(rows["plex-token-file"], [self.token, path + ":3"])
        self.assertEqual(rows["plex-machine-id"], ["a,b", path + ":4"])
        self.assertEqual(rows["plex-timeout"], ["3", "flag"])
        self.assertEqual(rows["webhooks-port"], ["5000", "STREAMERBRAINZ_WEBHOOKS_PORT"])
        self.assertEqual(rows["idle-after"], ["300", "default"])
        self.assertEqual(list(rows), [flag.name for flag in config.flags_of("run")
                                      if not flag.action])
        self.assertNotIn(TOKEN, out)

    def test_the_token_from_systemds_credentials_shows_as_its_file(self):
        credentials = os.path.dirname(self.token)
        path = self.write("[plex]\nserver-url = http://plex:32400\n")
        status, out, _ = self.run_main(["config", "-config", path],
                                       {"CREDENTIALS_DIRECTORY": credentials})
        self.assertEqual(status, 0)
        row = [line for line in out.splitlines() if line.startswith("plex-token-file ")][0]
        self.assertEqual(row.split()[1:], [self.token, "systemd", "$CREDENTIALS_DIRECTORY"])
        self.assertNotIn(TOKEN, out)

    def test_check_exits_0_for_valid_settings(self):
        path = self.write("[plex]\nserver-url = http://plex:32400\ntoken-file = %s\n"
                          % self.token)
        self.assertEqual(self.run_main(["config", "-check", "-config", path]),
                         (0, "streamerbrainz: the settings are valid (%s)\n" % path, ""))

    def test_check_exits_2_with_the_error_line(self):
        cases = [
            ("[plex]\nmachine-ids = a\n",
             "%s:2: [plex] machine-ids: unknown key; did you mean machine-id?"),
            ("[plex]\nserver-url = http://plex:32400\ntoken-file = /nonexistent/t\n",
             "%s:3: [plex] token-file /nonexistent/t: no such file (-plex-token-file)"),
        ]
        for text, wanted in cases:
            with self.subTest(text=text):
                path = self.write(text)
                status, out, err = self.run_main(["config", "-check", "-config", path])
                self.assertEqual((status, out), (2, ""))
                self.assertIn(wanted.replace("%s", path), err)
                self.assertEqual(len(err.splitlines()), 1, err)

    def test_check_with_a_named_file_that_is_not_there(self):
        path = os.path.join(self.dir, "absent.conf")
        status, _, err = self.run_main(["config", "-check", "-config", path])
        self.assertEqual((status, err), (2, "streamerbrainz: -config %s: no such file\n"
                                         % path))

    def test_check_says_when_there_is_no_file(self):
        status, out, _ = self.run_main(["config", "-check", "-config", ""])
        self.assertEqual((status, out), (0, "streamerbrainz: the settings are valid "
                                            "(no settings file)\n"))

    def test_the_daemon_refuses_a_bad_file_before_anything_binds(self):
        path = self.write("[webhooks]\nport = 0\n[plex]\nnotifications = maybe\n")
        status, out, err = self.run_main(["-config", path])
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(err, "streamerbrainz: %s:4: [plex] notifications: maybe is not yes "
                              "or no (yes/no, true/false, on/off)\n" % path)

    def test_the_file_under_configuration_directory_is_read_when_no_config_is_given(self):
        self.write("[webhooks]\nport = 4000\n")
        status, out, _ = self.run_main(["config"], {"CONFIGURATION_DIRECTORY": self.dir})
        self.assertEqual(status, 0)
        self.assertRegex(out, r"(?m)^webhooks-port +4000 +%s:2$" % re.escape(
            os.path.join(self.dir, "streamerbrainz.conf")))

    def test_the_check_flag_belongs_to_config_alone(self):
        status, _, err = self.run_main(["-check"])
        self.assertEqual(status, 2)
        self.assertIn("-check: not a flag of run (it is for config", err)


class ExampleFileTest(SettingsFileCase):
    """examples/streamerbrainz.conf: every setting, each at its default, but the Plex example."""

    def lines(self):
        """``(section, key, value, commented)`` for each ``key = value`` line, commented or not."""
        section = None
        with open(EXAMPLE, encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                header = re.match(r"^\[([a-z]+)\]$", line)
                if header:
                    section = header.group(1)
                    continue
                setting = re.match(r"^(#?)([a-z][a-z0-9-]*) =(?: (.*))?$", line)
                if setting:
                    yield section, setting.group(2), setting.group(3) or "", bool(
                        setting.group(1))

    def test_it_is_read_as_it_is(self):
        with open(EXAMPLE, encoding="utf-8") as handle:
            found = settings_file.read(self.write(handle.read()))
        self.assertEqual({name: value[0] for name, value in found.items()},
                         {"plex-server-url": "http://plex.home.arpa:32400"})

    def test_it_names_every_setting_once_in_its_section(self):
        named = [(section, key) for section, key, _, _ in self.lines()]
        self.assertEqual(len(named), len(set(named)), "a setting named twice")
        self.assertEqual(sorted(named), sorted(
            (section, key) for section, keys in settings_file.SECTIONS.items() for key in keys))
        self.assertEqual(sorted(settings_file.PLACES),
                         sorted(flag.name for flag in config.FLAGS
                                if not flag.action and flag.in_file))

    def test_each_commented_setting_is_at_its_default(self):
        sections = {}
        for section, key, value, commented in self.lines():
            if commented:
                sections.setdefault(section, []).append("%s = %s\n" % (key, value))
        uncommented = "".join("[%s]\n%s" % (section, "".join(keys))
                              for section, keys in sections.items())
        for name, (value, where, key) in settings_file.read(self.write(uncommented)).items():
            with self.subTest(setting=key):
                self.assertEqual(value, config.FLAGS_BY_NAME[name].default)

    def test_every_run_setting_is_in_the_file_but_the_one_offs(self):
        outside = {flag.name for flag in config.flags_of("run")
                   if not flag.action and flag.name not in settings_file.PLACES}
        self.assertEqual(outside, {"config"})


if __name__ == "__main__":
    unittest.main()
