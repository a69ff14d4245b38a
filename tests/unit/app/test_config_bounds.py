"""Hostile settings: numbers that are not numbers, URLs that do not parse, files
that are not files, environment variables that are no flag, output that cannot
be written. Each is refused with one line that names the flag."""

import errno
import io
import logging
import os
import shutil
import tempfile
import threading
import unittest
import unittest.mock

from streamerbrainz.app import cli
from streamerbrainz.app import config
from streamerbrainz.lib import log
from streamerbrainz.app.commands import status
from streamerbrainz.app.config import ConfigError

NUMERIC_FLAGS = [flag.name for flag in config.FLAGS if flag.kind in ("int", "float")]
NOT_NUMBERS = ("nan", "NaN", "inf", "-inf", "infinity", "1e10", "1e400", "3_001",
               "\u0663\u0660\u0660\u0661",  # Arabic-Indic 3001
               "\uff13\uff10",  # full-width 30
               "0x10", "", "12 34", "9" * 40)
TOKEN = "tok-" + "x" * 16


def build_error(cli_values, environ=None):
    environ = environ or {}
    try:
        config.build(config.gather(cli_values, environ), environ)
    except ConfigError as err:
        return str(err)
    raise AssertionError("no ConfigError for %r" % (cli_values,))


class NumericFlagTests(unittest.TestCase):

    def test_every_numeric_flag_has_bounds(self):
        self.assertEqual(sorted(NUMERIC_FLAGS), ["camilladsp-fade-in-ms", "camilladsp-fade-out-ms",
                                                 "history-days", "hook-timeout",
                                                 "idle-after", "limit", "mqtt-keepalive",
                                                 "plex-poll-interval", "plex-timeout",
                                                 "webhooks-port"])
        for name in NUMERIC_FLAGS:
            self.assertEqual(len(config.FLAGS_BY_NAME[name].bounds), 2, name)

    def test_values_that_are_not_numbers_are_refused_on_one_line(self):
        for name in NUMERIC_FLAGS:
            for raw in NOT_NUMBERS:
                for source in ("cli", "env"):
                    with self.subTest(flag=name, raw=raw, source=source):
                        if source == "cli":
                            message = build_error({name: raw})
                            self.assertTrue(message.startswith("-%s " % name), message)
                        else:
                            env = config.FLAGS_BY_NAME[name].env
                            message = build_error({}, {env: raw})
                            self.assertTrue(message.startswith(env + ": "), message)
                            self.assertTrue(message.endswith(" (-%s)" % name), message)
                        self.assertIn("between", message)
                        self.assertNotIn("\n", message)
                        if raw and len(raw) < 20:
                            self.assertIn(raw, message)

    def test_the_poll_interval_message(self):
        self.assertEqual(build_error({"plex-poll-interval": "nan"}),
                         "-plex-poll-interval nan: not a number between 1 and 86400 (or 0 for off)")
        self.assertEqual(build_error({"webhooks-port": "3_001"}),
                         "-webhooks-port 3_001: not a whole number between 0 and 65535")

    def test_from_the_environment_the_message_names_the_variable_then_the_flag(self):
        self.assertEqual(build_error({}, {"STREAMERBRAINZ_WEBHOOKS_PORT": "abc"}),
                         "STREAMERBRAINZ_WEBHOOKS_PORT: 'abc' is not a whole number between "
                         "0 and 65535 (-webhooks-port)")
        self.assertEqual(build_error({}, {"STREAMERBRAINZ_PLEX_POLL_INTERVAL": " nan "}),
                         "STREAMERBRAINZ_PLEX_POLL_INTERVAL: 'nan' is not a number between "
                         "1 and 86400 (or 0 for off) (-plex-poll-interval)")
        message = build_error({}, {"STREAMERBRAINZ_HOOK_TIMEOUT": "1\n[ERROR] forged"})
        self.assertNotIn("\n", message)
        self.assertIn("'1\\n[ERROR] forged'", message)
        message = build_error({}, {"STREAMERBRAINZ_IDLE_AFTER": "9" * 100})
        self.assertIn("'%s...'" % ("9" * 60), message)
        self.assertNotIn("9" * 61, message)

    def test_values_outside_the_range_are_refused(self):
        cases = {"webhooks-port": ("65536", "-1", "1.5", "1e3"),
                 "plex-timeout": ("0", "0.05", "300.5", "-1"),
                 "plex-poll-interval": ("0.5", "-1", "86401", "-0.0001"),
                 "idle-after": ("0", "0.09", "86401", "1e10"),
                 "hook-timeout": ("0", "86400.1", "-5")}
        for name, raws in cases.items():
            for raw in raws:
                with self.subTest(flag=name, raw=raw):
                    self.assertTrue(build_error({name: raw}).startswith("-%s " % name))

    def test_the_edges_of_each_range_are_fine(self):
        cases = {"webhooks-port": (("0", "65535", " 3001 "), (0, 65535, 3001)),
                 "plex-timeout": (("0.1", "300", "5"), (0.1, 300, 5)),
                 "plex-poll-interval": (("0", "1", "86400", "2.5"), (0, 1, 86400, 2.5)),
                 "idle-after": (("0.1", "86400", "3e2"), (0.1, 86400, 300)),
                 "hook-timeout": (("0.1", "86400", ".5"), (0.1, 86400, 0.5))}
        for name, (raws, expected) in cases.items():
            for raw, value in zip(raws, expected):
                with self.subTest(flag=name, raw=raw):
                    self.assertEqual(config.gather({name: raw}, {})[name], value)
        cfg = config.build(config.gather({"webhooks-port": "65535", "idle-after": "0.1",
                                          "hook-timeout": "86400"}, {}), {})
        self.assertEqual((cfg.webhooks_port, cfg.idle_after, cfg.hook_timeout),
                         (65535, 0.1, 86400))

    def test_a_control_character_in_the_value_is_shown_not_obeyed(self):
        message = build_error({"hook-timeout": "1\n[ERROR] forged"})
        self.assertNotIn("\n", message)
        self.assertIn("\\n", message)

    def test_parse_number_directly(self):
        self.assertEqual(config.parse_number("x", "7", 1, 9, integer=True), 7)
        self.assertIsInstance(config.parse_number("x", "7", 1, 9, integer=True), int)
        self.assertEqual(config.parse_number("x", "0", 1, 9, off_at_zero=True), 0)
        with self.assertRaises(ConfigError):
            config.parse_number("x", "0", 1, 9)


class UrlTests(unittest.TestCase):

    BAD = ("http://[::1", "http://[::1]:99999", "http://host:99999", "http://host:0",
           "http://host:3_001", "http://host:\u0663\u0660", "http://host:80x", "http://]host")

    def test_urls_that_do_not_parse_name_the_flag_and_the_value(self):
        for name in ("plex-server-url", "plexamp-url", "url"):
            for raw in self.BAD:
                with self.subTest(flag=name, url=raw):
                    message = build_error({name: raw}, {})
                    self.assertTrue(message.startswith("-%s %s: " % (name, raw)), message)

    def test_a_notify_url_that_does_not_parse_is_named_but_never_repeated(self):
        for raw in self.BAD:
            with self.subTest(url=raw):
                message = build_error({"notify-url": [raw]})
                self.assertTrue(message.startswith("-notify-url: "), message)
                self.assertNotIn(raw, message)

    def test_a_url_with_user_info_is_not_repeated(self):
        message = build_error({"plex-server-url": "http://me:%s@[::1" % TOKEN})
        self.assertTrue(message.startswith("-plex-server-url: "), message)
        self.assertNotIn(TOKEN, message)

    def test_good_urls_still_pass(self):
        for raw in ("http://[::1]:32400", "http://[::1]", "https://plex.home.arpa:32400/",
                    "http://127.0.0.1:65535"):
            with self.subTest(url=raw):
                self.assertEqual(config.validate_server_url(raw), raw.rstrip("/"))
                self.assertEqual(config.validate_notify_url(raw), raw)


class SecretFileTests(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sbz-bounds-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def fifo(self):
        path = self.path("fifo")
        os.mkfifo(path)
        return path

    def error_within(self, read, seconds=2.0):
        """Call ``read`` on a thread; fail if it blocks; return its ConfigError's text."""
        outcome = []

        def run():
            try:
                read()
                outcome.append("no error")
            except ConfigError as err:
                outcome.append(str(err))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(seconds)
        if not outcome:
            # Unblock the reader so the thread ends, then fail.
            with open(self.path("fifo"), "wb"):
                pass
            self.fail("reading blocked for %gs" % seconds)
        return outcome[0]

    def test_a_fifo_is_refused_at_once(self):
        path = self.fifo()
        readers = {
            "plex-token-file": lambda: config.read_token(path),
            "webhooks-secret-file": lambda: config.read_webhooks_secret(path),
            "plex-ca-file": lambda: config.check_ca_file(path, "https://plex:32400"),
        }
        for flag, read in readers.items():
            with self.subTest(flag=flag):
                self.assertEqual(self.error_within(read),
                                 "-%s %s: not a regular file" % (flag, path))

    def test_a_fifo_token_file_fails_the_whole_build(self):
        path = self.fifo()
        message = self.error_within(lambda: config.build(config.gather(
            {"plex-server-url": "http://plex:32400", "plex-token-file": path}, {}), {}))
        self.assertEqual(message, "-plex-token-file %s: not a regular file" % path)

    def test_a_device_is_refused(self):
        self.assertEqual(self.error_within(lambda: config.read_token(os.devnull)),
                         "-plex-token-file %s: not a regular file" % os.devnull)

    def test_a_directory_is_refused(self):
        with self.assertRaises(ConfigError) as caught:
            config.read_token(self.dir)
        self.assertEqual(str(caught.exception),
                         "-plex-token-file %s: is a directory, not a file" % self.dir)

    def test_a_file_larger_than_64_kib_is_refused(self):
        path = self.path("big")
        with open(path, "w") as out:
            out.write("x" * (64 * 1024 + 1))
        with self.assertRaises(ConfigError) as caught:
            config.read_token(path)
        self.assertEqual(str(caught.exception),
                         "-plex-token-file %s: larger than 64 KiB, not a secret" % path)

    def test_a_token_padded_to_the_limit_is_read(self):
        path = self.path("padded")
        with open(path, "w") as out:
            out.write(TOKEN + " " * (64 * 1024 - len(TOKEN)))
        self.assertEqual(os.path.getsize(path), 64 * 1024)
        self.assertEqual(config.read_token(path), TOKEN)


class UnknownEnvironmentTests(unittest.TestCase):

    def test_each_unknown_variable_with_its_closest_flag(self):
        environ = {"STREAMERBRAINZ_PLEX_MACHINE_IDS": "abc",
                   "STREAMERBRAINZ_WEBHOOK_PORT": "1",
                   "STREAMERBRAINZ_QQQQ": "1",
                   "STREAMERBRAINZ_PLEX_SERVER_URL": "http://plex:32400",  # a flag
                   "PATH": "/bin"}
        self.assertEqual(config.unknown_environment(environ), [
            ("STREAMERBRAINZ_PLEX_MACHINE_IDS", "STREAMERBRAINZ_PLEX_MACHINE_ID"),
            ("STREAMERBRAINZ_QQQQ", ""),
            ("STREAMERBRAINZ_WEBHOOK_PORT", "STREAMERBRAINZ_WEBHOOKS_PORT"),
        ])

    @staticmethod
    def restore_logging(root, handlers, level, propagate, formatter):
        root.handlers[:] = handlers
        root.setLevel(level)
        root.propagate = propagate
        log._formatter = formatter

    def test_one_warn_line_each_without_the_value(self):
        root = logging.getLogger("streamerbrainz")
        saved = (list(root.handlers), root.level, root.propagate, log._formatter)
        self.addCleanup(self.restore_logging, root, *saved)
        stream = io.StringIO()
        log.setup("info", stream=stream, environ={"JOURNAL_STREAM": "1"})
        cli.warn_unknown_environment({"STREAMERBRAINZ_PLEX_MACHINE_IDS": "value-" + TOKEN,
                                      "STREAMERBRAINZ_QQQQ": "other-" + TOKEN})
        self.assertEqual(stream.getvalue().splitlines(), [
            "[WARN] unknown environment variable ignored "
            "variable=STREAMERBRAINZ_PLEX_MACHINE_IDS closest=STREAMERBRAINZ_PLEX_MACHINE_ID",
            "[WARN] unknown environment variable ignored variable=STREAMERBRAINZ_QQQQ",
        ])


class FailingStream:

    def __init__(self, code):
        self.code = code

    def write(self, text):
        raise OSError(self.code, os.strerror(self.code))

    def flush(self):
        pass


class OutputTests(unittest.TestCase):

    def write(self, out):
        stderr = io.StringIO()
        with unittest.mock.patch("sys.stderr", stderr):
            status_code = cli.write_output("a listing\n", out)
        return status_code, stderr.getvalue()

    def test_a_full_disk_is_one_line_and_exit_1(self):
        self.assertEqual(self.write(FailingStream(errno.ENOSPC)),
                         (1, "streamerbrainz: cannot write the output: No space left on device\n"))

    def test_a_reader_that_went_away_ends_quietly(self):
        self.assertEqual(self.write(FailingStream(errno.EPIPE)), (1, ""))

    def test_a_written_listing_is_exit_0(self):
        out = io.StringIO()
        self.assertEqual(self.write(out), (0, ""))
        self.assertEqual(out.getvalue(), "a listing\n")


class StatusDocumentTests(unittest.TestCase):

    def test_what_is_not_the_daemons_document(self):
        cases = [([], "the answer is not a JSON object"),
                 ("text", "the answer is not a JSON object"),
                 ({"players": {}}, '"players" is not a list'),
                 ({"players": [1]}, "players[0] is not an object"),
                 ({"players": [{}, {"title": 5}]}, "players[1].title is not text"),
                 ({"players": [{"since": []}]}, "players[0].since is not text"),
                 ({"players": [{"position_ms": "12"}]}, "players[0].position_ms is not a number"),
                 ({"players": [{"duration_ms": True}]}, "players[0].duration_ms is not a number"),
                 ({"players": [{"duration_ms": float("inf")}]},
                  "players[0].duration_ms is not a number")]
        for document, expected in cases:
            with self.subTest(document=document):
                self.assertEqual(status.problem(document), expected)

    def test_the_daemons_document_passes(self):
        self.assertEqual(status.problem({"players": [], "any_playing": False}), "")
        self.assertEqual(status.problem({"players": [{"player": "Office", "position_ms": 5,
                                                      "duration_ms": None}]}), "")


if __name__ == "__main__":
    unittest.main()
