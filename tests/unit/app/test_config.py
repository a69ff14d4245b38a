"""Flags, environment, defaults and validation into a frozen Config."""

import dataclasses
import os
import tempfile
import unittest
import unittest.mock

from streamerbrainz.app import config
from streamerbrainz.app.config import ConfigError

TOKEN = "tok-9f8e7d6c5b4a"


def gathered(cli=None, environ=None):
    return config.gather(cli or {}, environ or {})


class TempDirMixin:

    def make_dir(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        return tmp.name

    def write(self, directory, name, data):
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def token_file(self, data=TOKEN + "\n"):
        return self.write(self.make_dir(), "plex-token", data)


class GatherTest(unittest.TestCase):

    def test_defaults(self):
        values = gathered()
        self.assertEqual(values["webhooks-port"], 3001)
        self.assertEqual(values["webhooks-bind"], "0.0.0.0")
        self.assertEqual(values["plex-server-url"], "")
        self.assertEqual(values["plex-token-file"], "")
        self.assertEqual(values["plex-machine-id"], ())
        self.assertEqual(values["log-level"], "info")
        self.assertIs(values["version"], False)

    def test_default_config(self):
        cfg = config.build(gathered(), {})
        self.assertEqual(cfg.webhooks_port, 3001)
        self.assertEqual(cfg.webhooks_bind, "0.0.0.0")
        self.assertEqual(cfg.plex_server_url, "")
        self.assertEqual(cfg.plex_token, "")
        self.assertEqual(cfg.plex_machine_ids, ())
        self.assertEqual(cfg.log_level, "info")
        self.assertFalse(cfg.plex_enabled)

    def test_environment_values(self):
        environ = {
            "STREAMERBRAINZ_WEBHOOKS_PORT": "4000",
            "STREAMERBRAINZ_WEBHOOKS_BIND": "127.0.0.1",
            "STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex.home.arpa:32400",
            "STREAMERBRAINZ_PLEX_MACHINE_ID": "aaa, bbb",
            "STREAMERBRAINZ_LOG_LEVEL": "debug",
        }
        values = gathered(environ=environ)
        self.assertEqual(values["webhooks-port"], 4000)
        self.assertEqual(values["webhooks-bind"], "127.0.0.1")
        self.assertEqual(values["plex-server-url"], "http://plex.home.arpa:32400")
        self.assertEqual(values["plex-machine-id"], ("aaa", "bbb"))
        self.assertEqual(values["log-level"], "debug")

    def test_command_line_wins_over_environment(self):
        environ = {"STREAMERBRAINZ_WEBHOOKS_PORT": "4000",
                   "STREAMERBRAINZ_PLEX_MACHINE_ID": "from-env"}
        values = gathered({"webhooks-port": "5000", "plex-machine-id": ["from-cli"]}, environ)
        self.assertEqual(values["webhooks-port"], 5000)
        self.assertEqual(values["plex-machine-id"], ("from-cli",))

    def test_env_names_are_upper_snake_case(self):
        self.assertEqual(config.FLAGS_BY_NAME["plex-server-url"].env,
                         "STREAMERBRAINZ_PLEX_SERVER_URL")
        self.assertEqual(config.FLAGS_BY_NAME["webhooks-port"].env,
                         "STREAMERBRAINZ_WEBHOOKS_PORT")

    def test_every_documented_flag_exists(self):
        for name in ("webhooks-port", "webhooks-bind", "plex-server-url", "plex-token-file",
                     "plex-machine-id", "log-level", "version"):
            self.assertIn(name, config.FLAGS_BY_NAME)

    def test_bad_number_in_environment_names_the_flag(self):
        with self.assertRaises(ConfigError) as caught:
            gathered(environ={"STREAMERBRAINZ_WEBHOOKS_PORT": "http"})
        self.assertIn("-webhooks-port", str(caught.exception))
        self.assertIn("http", str(caught.exception))

    def test_bad_port_on_command_line_names_the_flag(self):
        with self.assertRaises(ConfigError) as caught:
            gathered({"webhooks-port": "30o1"})
        self.assertTrue(str(caught.exception).startswith("-webhooks-port"), caught.exception)

    def test_bad_timeout_names_the_flag(self):
        with self.assertRaises(ConfigError) as caught:
            gathered({"plex-timeout": "soon"})
        self.assertIn("-plex-timeout", str(caught.exception))

    def test_bool_values(self):
        flag = config.FLAGS_BY_NAME["version"]
        for raw, expected in (("true", True), ("1", True), ("yes", True), ("false", False),
                              ("0", False), ("", False), (True, True)):
            with self.subTest(raw=raw):
                self.assertIs(config.convert(flag, raw), expected)
        with self.assertRaises(ConfigError) as caught:
            config.convert(flag, "maybe")
        self.assertIn("-version", str(caught.exception))

    def test_machine_ids_split_trim_and_drop_duplicates(self):
        values = gathered({"plex-machine-id": ["a", "b, c", "a", " ,"]})
        self.assertEqual(values["plex-machine-id"], ("a", "b", "c", "a"))
        cfg = config.build(values, {})
        self.assertEqual(cfg.plex_machine_ids, ("a", "b", "c"))

    def test_config_is_frozen(self):
        cfg = config.build(gathered(), {})
        with self.assertRaises(dataclasses.FrozenInstanceError):
            cfg.webhooks_port = 1


class BuildErrorsTest(TempDirMixin, unittest.TestCase):

    def build_error(self, cli=None, environ=None, need_plex=False):
        environ = environ or {}
        with self.assertRaises(ConfigError) as caught:
            config.build(gathered(cli, environ), environ, need_plex=need_plex)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message

    def test_port_out_of_range(self):
        for port in ("65536", "-1", "100000"):
            with self.subTest(port=port):
                message = self.build_error({"webhooks-port": port})
                self.assertTrue(message.startswith("-webhooks-port"), message)

    def test_port_zero_and_top_of_range_are_fine(self):
        self.assertEqual(config.build(gathered({"webhooks-port": "0"}), {}).webhooks_port, 0)
        self.assertEqual(config.build(gathered({"webhooks-port": "65535"}), {}).webhooks_port,
                         65535)

    def test_bind_must_be_an_ip_address(self):
        for bind in ("localhost", "0.0.0.0:3001", "300.1.1.1"):
            with self.subTest(bind=bind):
                message = self.build_error({"webhooks-bind": bind})
                self.assertTrue(message.startswith("-webhooks-bind"), message)
                self.assertIn(bind, message)

    def test_empty_bind(self):
        self.assertTrue(self.build_error({"webhooks-bind": ""}).startswith("-webhooks-bind"))

    def test_ipv4_and_ipv6_binds(self):
        for bind in ("127.0.0.1", "::", "::1", "0.0.0.0"):
            with self.subTest(bind=bind):
                self.assertEqual(config.build(gathered({"webhooks-bind": bind}), {}).webhooks_bind,
                                 bind)

    def test_bad_log_level(self):
        message = self.build_error({"log-level": "verbose"})
        self.assertTrue(message.startswith("-log-level"), message)
        self.assertIn("verbose", message)

    def test_log_level_is_case_insensitive(self):
        for level in ("DEBUG", "Warn", "error"):
            with self.subTest(level=level):
                cfg = config.build(gathered({"log-level": level}), {})
                self.assertEqual(cfg.log_level, level.lower())

    def test_timeout_range(self):
        for raw in ("0", "-1", "301"):
            with self.subTest(timeout=raw):
                self.assertTrue(self.build_error({"plex-timeout": raw}).startswith("-plex-timeout"))

    def test_url_without_scheme(self):
        message = self.build_error({"plex-server-url": "plex.home.arpa:32400"})
        self.assertTrue(message.startswith("-plex-server-url"), message)
        self.assertIn("http://", message)

    def test_url_with_other_scheme(self):
        message = self.build_error({"plex-server-url": "ftp://plex.home.arpa"})
        self.assertTrue(message.startswith("-plex-server-url"), message)

    def test_url_without_host(self):
        for url in ("http://", "http://:32400", "https:///status"):
            with self.subTest(url=url):
                message = self.build_error({"plex-server-url": url})
                self.assertTrue(message.startswith("-plex-server-url"), message)

    def test_url_with_bad_port(self):
        message = self.build_error({"plex-server-url": "http://plex:99999"})
        self.assertTrue(message.startswith("-plex-server-url"), message)

    def test_url_with_a_token_in_the_query_never_repeats_it(self):
        for url in ("http://plex:32400/?X-Plex-Token=" + TOKEN,
                    "http://plex:32400/status?token=" + TOKEN,
                    "http://plex:32400/#" + TOKEN,
                    "http://admin:" + TOKEN + "@plex:32400"):
            with self.subTest(url=url):
                message = self.build_error({"plex-server-url": url})
                self.assertTrue(message.startswith("-plex-server-url"), message)
                self.assertNotIn(TOKEN, message)
                self.assertIn("-plex-token-file", message)

    def test_url_requires_a_token_file(self):
        message = self.build_error({"plex-server-url": "http://plex:32400"})
        self.assertTrue(message.startswith("-plex-token-file"), message)

    def test_players_needs_a_server_url(self):
        message = self.build_error(need_plex=True)
        self.assertTrue(message.startswith("-plex-server-url"), message)
        self.assertIn("required", message)

    def test_token_file_missing(self):
        path = os.path.join(self.make_dir(), "nope")
        message = self.build_error({"plex-server-url": "http://plex:32400",
                                    "plex-token-file": path})
        self.assertTrue(message.startswith("-plex-token-file"), message)
        self.assertIn(path, message)
        self.assertIn("no such file", message)

    def test_token_file_is_a_directory(self):
        path = self.make_dir()
        message = self.build_error({"plex-server-url": "http://plex:32400",
                                    "plex-token-file": path})
        self.assertTrue(message.startswith("-plex-token-file"), message)
        self.assertIn("directory", message)

    def test_token_file_unreadable(self):
        # Root reads a mode-000 file anyway, so the refusal is simulated.
        path = self.token_file()
        denied = PermissionError(13, "Permission denied", path)
        with unittest.mock.patch("os.open", side_effect=denied):
            message = self.build_error({"plex-server-url": "http://plex:32400",
                                        "plex-token-file": path})
        self.assertTrue(message.startswith("-plex-token-file"), message)
        self.assertIn("permission denied", message)

    def test_token_file_empty(self):
        for data in ("", "\n", "  \r\n\t"):
            with self.subTest(data=data):
                path = self.token_file(data)
                message = self.build_error({"plex-server-url": "http://plex:32400",
                                            "plex-token-file": path})
                self.assertTrue(message.startswith("-plex-token-file"), message)
                self.assertIn("empty", message)

    def test_token_file_with_several_lines(self):
        path = self.token_file(TOKEN + "\nsecond-line\n")
        message = self.build_error({"plex-server-url": "http://plex:32400",
                                    "plex-token-file": path})
        self.assertTrue(message.startswith("-plex-token-file"), message)
        self.assertIn("one line", message)
        self.assertNotIn(TOKEN, message)
        self.assertNotIn("second-line", message)

    def test_token_file_with_binary_junk(self):
        path = self.token_file(b"\xff\xfe\x00garbage")
        message = self.build_error({"plex-server-url": "http://plex:32400",
                                    "plex-token-file": path})
        self.assertTrue(message.startswith("-plex-token-file"), message)

    def test_token_is_read_and_stripped(self):
        for data in (TOKEN, TOKEN + "\n", "  " + TOKEN + "\r\n"):
            with self.subTest(data=data):
                path = self.token_file(data)
                cfg = config.build(gathered({"plex-server-url": "http://plex:32400/",
                                             "plex-token-file": path}), {})
                self.assertEqual(cfg.plex_token, TOKEN)
                self.assertEqual(cfg.plex_token_file, path)
                self.assertEqual(cfg.plex_server_url, "http://plex:32400")
                self.assertTrue(cfg.plex_enabled)

    def test_https_url_with_path_is_kept(self):
        path = self.token_file()
        cfg = config.build(gathered({"plex-server-url": "https://example.org/plex/",
                                     "plex-token-file": path}), {})
        self.assertEqual(cfg.plex_server_url, "https://example.org/plex")

    def test_credentials_directory_fallback(self):
        credentials = self.make_dir()
        path = self.write(credentials, "plex-token", TOKEN + "\n")
        environ = {"CREDENTIALS_DIRECTORY": credentials}
        cfg = config.build(gathered({"plex-server-url": "http://plex:32400"}, environ), environ)
        self.assertEqual(cfg.plex_token, TOKEN)
        self.assertEqual(cfg.plex_token_file, path)

    def test_credentials_directory_without_the_file(self):
        environ = {"CREDENTIALS_DIRECTORY": self.make_dir()}
        message = self.build_error({"plex-server-url": "http://plex:32400"}, environ)
        self.assertTrue(message.startswith("-plex-token-file"), message)

    def test_explicit_token_file_wins_over_credentials_directory(self):
        credentials = self.make_dir()
        self.write(credentials, "plex-token", "from-credentials\n")
        explicit = self.token_file("from-flag\n")
        environ = {"CREDENTIALS_DIRECTORY": credentials}
        cfg = config.build(gathered({"plex-server-url": "http://plex:32400",
                                     "plex-token-file": explicit}, environ), environ)
        self.assertEqual(cfg.plex_token, "from-flag")

    def test_token_file_from_environment(self):
        path = self.token_file()
        environ = {"STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex:32400",
                   "STREAMERBRAINZ_PLEX_TOKEN_FILE": path}
        cfg = config.build(gathered(environ=environ), environ)
        self.assertEqual(cfg.plex_token, TOKEN)


class WebhooksSecretTest(TempDirMixin, unittest.TestCase):
    """The webhook secret is a credential like the token: checked, never shown."""

    SECRET = "Xq3-vR9_tL2.wP8~kM5nB7"

    def test_secret_is_read_and_hidden_from_repr(self):
        path = self.write(self.make_dir(), "secret", self.SECRET + "\n")
        cfg = config.build(gathered({"webhooks-secret-file": path}), {})
        self.assertEqual(cfg.webhooks_secret, self.SECRET)
        self.assertNotIn(self.SECRET, repr(cfg))

    def test_short_secret_names_the_flag_without_echoing_it(self):
        path = self.write(self.make_dir(), "secret", "short\n")
        with self.assertRaises(ConfigError) as caught:
            config.build(gathered({"webhooks-secret-file": path}), {})
        message = str(caught.exception)
        self.assertTrue(message.startswith("-webhooks-secret-file"), message)
        self.assertNotIn("short", message.replace(path, ""))


class ConfigReprTest(TempDirMixin, unittest.TestCase):

    def test_repr_never_shows_the_token(self):
        cfg = config.Config(plex_server_url="http://plex:32400", plex_token=TOKEN)
        self.assertNotIn(TOKEN, repr(cfg))
        self.assertNotIn(TOKEN, str(cfg))
        self.assertNotIn(TOKEN, "%s %r" % (cfg, cfg))

    def test_built_config_repr_never_shows_the_token(self):
        path = self.token_file()
        cfg = config.build(gathered({"plex-server-url": "http://plex:32400",
                                     "plex-token-file": path}), {})
        self.assertEqual(cfg.plex_token, TOKEN)
        self.assertNotIn(TOKEN, repr(cfg))
        self.assertIn("http://plex:32400", repr(cfg))


if __name__ == "__main__":
    unittest.main()


class TokenFileShapesTest(TempDirMixin, unittest.TestCase):
    """Token files as people save them, and tokens too short to be one."""

    def build(self, data):
        path = self.token_file(data)
        return config.build(gathered({"plex-server-url": "http://plex:32400",
                                      "plex-token-file": path}), {})

    def test_byte_order_mark_and_crlf_are_stripped(self):
        self.assertEqual(self.build(b"\xef\xbb\xbf" + TOKEN.encode() + b"\r\n").plex_token, TOKEN)

    def test_a_short_token_is_refused_with_a_line_that_says_so(self):
        for token in ("x", "abc1234"):
            with self.subTest(token=token):
                with self.assertRaises(ConfigError) as caught:
                    self.build(token + "\n")
                message = str(caught.exception)
                self.assertIn("too few for a Plex token", message)
                self.assertNotIn(" %s " % token, message)

    def test_eight_characters_is_enough(self):
        self.assertEqual(self.build("abcd1234\n").plex_token, "abcd1234")


class CaFileTest(TempDirMixin, unittest.TestCase):

    def build(self, ca_file, server="https://plex.home.arpa:32400"):
        values = gathered({"plex-server-url": server, "plex-token-file": self.token_file(),
                           "plex-ca-file": ca_file})
        return config.build(values, {})

    def error(self, *args, **kwargs):
        with self.assertRaises(ConfigError) as caught:
            self.build(*args, **kwargs)
        return str(caught.exception)

    def test_a_real_ca_file_is_kept(self):
        from tests.support.tls import TestCA
        ca = TestCA(self)
        self.assertEqual(self.build(ca.ca_file).plex_ca_file, ca.ca_file)

    def test_errors_name_the_flag_and_the_file(self):
        directory = self.make_dir()
        missing = os.path.join(directory, "nope.pem")
        junk = self.write(directory, "junk.pem", "not a certificate\n")
        self.assertEqual(self.error(missing), "-plex-ca-file %s: no such file" % missing)
        self.assertIn("holds no PEM certificate", self.error(junk))
        self.assertIn("is a directory", self.error(directory))

    def test_needs_an_https_server(self):
        self.assertEqual(self.error("/x.pem", server="http://plex:32400"),
                         "-plex-ca-file: needs an https:// -plex-server-url")


class EnvironmentFileTest(unittest.TestCase):
    """examples/streamerbrainz.env shows every daemon flag, with its default, under its room."""

    EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                           "examples", "streamerbrainz.env")

    def lines(self, commented_only=False):
        """(variable, value, the heading above it) for each STREAMERBRAINZ_ line."""
        heading = ""
        with open(self.EXAMPLE, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line.startswith("# --- "):
                    heading = line[len("# --- "):].rstrip("-").strip()
                    continue
                commented = line.startswith("#")
                line = line.lstrip("#")
                if line.startswith("STREAMERBRAINZ_") and "=" in line:
                    if commented or not commented_only:
                        name, _, value = line.partition("=")
                        yield name, value, heading

    def test_every_flag_and_nothing_else(self):
        shown = {name for name, _, _ in self.lines()}
        wanted = {flag.env for flag in config.flags_of("run") if not flag.action}
        self.assertEqual(sorted(wanted - shown), [], "flags missing from the example")
        self.assertEqual(sorted(shown - wanted), [], "variables that are no flag of the daemon")

    def test_values_are_valid_for_their_flag(self):
        by_env = {flag.env: flag for flag in config.FLAGS}
        for name, value, _ in self.lines():
            with self.subTest(name=name):
                config.convert(by_env[name], value, name)

    def test_a_commented_line_shows_the_default_as_typed(self):
        by_env = {flag.env: flag for flag in config.FLAGS}
        for name, value, _ in self.lines(commented_only=True):
            flag = by_env[name]
            if flag.typed_default or not value:  # an empty default may show an example
                with self.subTest(name=name):
                    self.assertEqual(value, flag.typed_default)

    def test_each_variable_stands_under_its_rooms_heading_in_the_tables_order(self):
        rooms = {flag.env: room.TITLE for room in config.ROOMS for flag in room.FLAGS}
        order = [flag.env for flag in config.FLAGS]
        seen = []
        for name, _, heading in self.lines():
            with self.subTest(name=name):
                self.assertEqual(heading, rooms[name])
            seen.append(name)
        self.assertEqual(seen, [name for name in order if name in seen])


class FlagTableTest(unittest.TestCase):
    """One table gathered from the rooms; Config made from it, each default written once."""

    def test_the_table_is_the_rooms_tables_in_order(self):
        self.assertEqual(config.FLAGS, tuple(flag for room in config.ROOMS for flag in room.FLAGS))
        self.assertEqual(len(config.FLAGS_BY_NAME), len(config.FLAGS), "a name used twice")
        for room in config.ROOMS:
            with self.subTest(room=room.__name__):
                self.assertIsInstance(room.TITLE, str)
                self.assertIsInstance(room.FLAGS, tuple)
                self.assertTrue(all(isinstance(flag, config.Flag) for flag in room.FLAGS))

    def test_every_rooms_flags_module_is_gathered(self):
        package = os.path.dirname(os.path.dirname(config.__file__))
        on_disk = sorted("streamerbrainz.%s.flags" % name for name in os.listdir(package)
                         if os.path.isfile(os.path.join(package, name, "flags.py"))
                         and name != "lib")
        self.assertEqual(sorted(room.__name__ for room in config.ROOMS), on_disk)

    def test_a_rooms_flags_import_only_lib(self):
        import subprocess
        import sys
        code = ("import sys\n"
                "import streamerbrainz.%s.flags\n"
                "print(' '.join(sorted(m for m in sys.modules if m.startswith('streamerbrainz'))))")
        root = os.path.dirname(os.path.dirname(os.path.dirname(config.__file__)))
        for room in config.ROOMS:
            name = room.__name__.split(".")[1]
            with self.subTest(room=name):
                out = subprocess.run([sys.executable, "-c", code % name], cwd=root, check=True,
                                     stdout=subprocess.PIPE, universal_newlines=True).stdout
                self.assertEqual(out.split(), sorted({
                    "streamerbrainz", "streamerbrainz.lib", "streamerbrainz.lib.flags",
                    "streamerbrainz.%s" % name, "streamerbrainz.%s.flags" % name}))

    def test_each_flag_is_sound(self):
        types = {"str": str, "int": int, "float": float, "bool": bool, "list": tuple,
                 "urls": tuple}
        for flag in config.FLAGS:
            with self.subTest(flag=flag.name):
                self.assertRegex(flag.name, r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
                self.assertIn(flag.kind, types)
                self.assertIs(type(flag.default), types[flag.kind])
                self.assertTrue(flag.help and "\n" not in flag.help)
                if flag.kind in ("int", "float"):
                    low, high = flag.bounds
                    self.assertTrue(low <= flag.default <= high
                                    or (flag.off_at_zero and flag.default == 0))
                # The default as -help and the README show it reads back as the default.
                self.assertEqual(config.convert(flag, flag.typed_default), flag.default)

    def test_config_has_an_attribute_per_flag_with_the_flags_default(self):
        fields = {field.name: field for field in dataclasses.fields(config.Config)}
        attributes = [flag.attribute for flag in config.FLAGS if flag.attribute]
        self.assertEqual(len(set(attributes)), len(attributes))
        self.assertEqual(set(fields), set(attributes) | {name for name, _, _ in config.DERIVED})
        for flag in config.FLAGS:
            if flag.attribute:
                with self.subTest(flag=flag.name):
                    expected = config.CHECKED_DEFAULTS.get(flag.attribute, flag.default)
                    self.assertEqual(fields[flag.attribute].default, expected)

    def test_a_rooms_check_parses_its_defaults(self):
        self.assertIsNone(config.Config().camilladsp_pause)  # "off"
        self.assertIsNone(config.Config().camilladsp_max_volume)  # ""

    def test_the_attribute_names_the_code_reads(self):
        cfg = config.Config()
        for name in ("webhooks_port", "webhooks_bind", "webhooks_secret_file", "webhooks_secret",
                     "webhooks_allow", "plex_server_url", "plex_token_file", "plex_token",
                     "plex_ca_file", "plex_machine_ids", "plex_timeout", "plex_notifications",
                     "plex_poll_interval", "plexamp_url", "hooks", "idle_after", "idle_at_start",
                     "hook_timeout", "notify_urls", "log_level", "url", "plex_enabled"):
            self.assertTrue(hasattr(cfg, name), name)
        self.assertEqual(config.HOOK_FLAGS, ("on-change", "on-play", "on-pause", "on-stop",
                                             "on-idle", "on-active"))

    def test_the_default_config_is_the_built_one(self):
        self.assertEqual(config.build(gathered(), {}), config.Config())
        self.assertEqual(config.Config().plex_timeout, 5.0)
        self.assertEqual(config.Config.__name__, "Config")
        self.assertEqual(config.Config.__module__, "streamerbrainz.app.config")

    def test_a_default_is_written_once(self):
        """No default of a flag's is repeated in the module that builds Config."""
        import re
        with open(config.__file__, encoding="utf-8") as handle:
            source = handle.read()
        declared = re.findall(r"^\s+(\w+): \w+ = ", source, re.M)  # a class-body field
        self.assertEqual(declared, [])
        for flag in config.FLAGS:
            if flag.attribute and flag.default not in ("", (), False, 0):
                with self.subTest(flag=flag.name):
                    written = "%s=%r" % (flag.attribute, flag.default)
                    self.assertFalse(written in source, written)
