"""logfmt lines: quoting, escaping, level tags, timestamps, secrets, exceptions."""

import io
import logging
import re
import unittest

from streamerbrainz.lib import log
from tests.support.logfmt import parse_fields, parse_log_line


class FormatValueTest(unittest.TestCase):

    def test_plain_words_are_left_bare(self):
        self.assertEqual(log.format_value("playing"), "playing")
        self.assertEqual(log.format_value(30496), "30496")
        self.assertEqual(log.format_value("http://plex.home.arpa:32400"),
                         "http://plex.home.arpa:32400")

    def test_non_ascii_printable_text_is_left_bare(self):
        self.assertEqual(log.format_value("Björk"), "Björk")
        self.assertEqual(log.format_value("Sigur_Rós"), "Sigur_Rós")
        self.assertEqual(log.format_value("坂本龍一"), "坂本龍一")

    def test_empty_and_none_are_an_empty_quoted_string(self):
        self.assertEqual(log.format_value(""), '""')
        self.assertEqual(log.format_value(None), '""')

    def test_booleans_are_lower_case(self):
        self.assertEqual(log.format_value(True), "true")
        self.assertEqual(log.format_value(False), "false")

    def test_spaces_are_quoted(self):
        self.assertEqual(log.format_value("Once in a Lifetime"), '"Once in a Lifetime"')

    def test_quotes_are_escaped(self):
        self.assertEqual(log.format_value('say "hi"'), r'"say \"hi\""')

    def test_equals_sign_is_quoted(self):
        self.assertEqual(log.format_value("a=b"), '"a=b"')

    def test_backslash_is_escaped(self):
        self.assertEqual(log.format_value("AC\\DC"), r'"AC\\DC"')

    def test_newline_carriage_return_and_tab_are_escaped(self):
        self.assertEqual(log.format_value("a\nb"), r'"a\nb"')
        self.assertEqual(log.format_value("a\rb"), r'"a\rb"')
        self.assertEqual(log.format_value("a\tb"), r'"a\tb"')

    def test_control_characters_are_escaped(self):
        self.assertEqual(log.format_value("a\x00b"), r'"a\x00b"')
        self.assertEqual(log.format_value("\x1b[31mred"), r'"\x1b[31mred"')
        self.assertEqual(log.format_value("a\x7fb"), r'"a\x7fb"')

    def test_unicode_line_separators_are_escaped(self):
        self.assertEqual(log.format_value("a\u2028b"), r'"a\u2028b"')
        self.assertEqual(log.format_value("a\u2029b"), r'"a\u2029b"')
        self.assertEqual(log.format_value("a\x85b"), r'"a\x85b"')

    def test_every_escaped_value_reads_back_unchanged(self):
        nasty = ['x\n[ERROR] forged', 'a "b" c', "k=v", "back\\slash", "\x00\x01\x1f",
                 "\u2028\u2029", "tab\there", "Björk", "", "\U000e0001", "end\\"]
        for value in nasty:
            with self.subTest(value=value):
                line = log.format_fields({"title": value})
                self.assertEqual(parse_fields(line), [("title", value)])


class FormatFieldsTest(unittest.TestCase):

    def test_fields_keep_their_order(self):
        line = log.format_fields({"state": "playing", "title": "Once in a Lifetime",
                                  "position_ms": 30496})
        self.assertEqual(line, 'state=playing title="Once in a Lifetime" position_ms=30496')

    def test_a_hostile_title_cannot_forge_a_line_or_a_key(self):
        hostile = 'Song\n[ERROR] forged level=error user="root"\r\nx'
        line = log.format_fields({"title": hostile, "player": "Office"})
        self.assertNotIn("\n", line)
        self.assertNotIn("\r", line)
        self.assertEqual(parse_fields(line), [("title", hostile), ("player", "Office")])


class LoggerOutputTest(unittest.TestCase):
    """The real path: log.setup() + get_logger(), written to a StringIO."""

    def setUp(self):
        root = logging.getLogger("streamerbrainz")
        self._saved = (list(root.handlers), root.level, root.propagate, log._formatter)
        self.addCleanup(self._restore)
        self.stream = io.StringIO()

    def _restore(self):
        root = logging.getLogger("streamerbrainz")
        handlers, level, propagate, formatter = self._saved
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        root.propagate = propagate
        log._formatter = formatter

    def setup_log(self, level="info", journal=True):
        environ = {"JOURNAL_STREAM": "8:12345"} if journal else {}
        log.setup(level, stream=self.stream, environ=environ)
        return log.get_logger("streamerbrainz.test")

    def lines(self):
        text = self.stream.getvalue()
        self.assertTrue(text == "" or text.endswith("\n"), text)
        return text.splitlines()

    def test_line_shape_under_journald(self):
        logger = self.setup_log()
        logger.info("webhooks server listening", addr="0.0.0.0", port=3001)
        self.assertEqual(self.lines(), ["[INFO] webhooks server listening addr=0.0.0.0 port=3001"])

    def test_message_without_fields_has_no_trailing_space(self):
        logger = self.setup_log()
        logger.info("stopped")
        self.assertEqual(self.lines(), ["[INFO] stopped"])

    def test_timestamp_leads_each_line_without_journal_stream(self):
        logger = self.setup_log(journal=False)
        logger.info("Plex reachable again")
        (line,) = self.lines()
        match = re.match(r"(\S+) \[INFO\] Plex reachable again$", line)
        self.assertIsNotNone(match, line)
        self.assertRegex(match.group(1),
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z)$")

    def test_no_timestamp_under_journald(self):
        logger = self.setup_log(journal=True)
        logger.info("hello")
        self.assertTrue(self.lines()[0].startswith("[INFO] "))

    def test_level_tags(self):
        logger = self.setup_log("debug")
        logger.debug("d")
        logger.info("i")
        logger.warn("w")
        logger.error("e")
        self.assertEqual(self.lines(), ["[DEBUG] d", "[INFO] i", "[WARN] w", "[ERROR] e"])

    def test_level_filters_lower_records(self):
        logger = self.setup_log("warn")
        logger.debug("d")
        logger.info("i")
        logger.warn("w")
        logger.error("e")
        self.assertEqual(self.lines(), ["[WARN] w", "[ERROR] e"])

    def test_error_level_shows_only_errors(self):
        logger = self.setup_log("error")
        logger.warn("w")
        logger.error("e")
        self.assertEqual(self.lines(), ["[ERROR] e"])

    def test_hostile_title_stays_on_one_line(self):
        logger = self.setup_log()
        hostile = "Song\n[ERROR] forged level=error"
        logger.info("Plex state changed", state="playing", title=hostile)
        lines = self.lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("[INFO] Plex state changed "))
        fields = parse_fields(lines[0][len("[INFO] Plex state changed "):])
        self.assertEqual(fields, [("state", "playing"), ("title", hostile)])

    def test_secrets_are_masked(self):
        logger = self.setup_log("debug")
        log.add_secret("s3cr3tT0ken")
        logger.info("request", url="http://plex/?X-Plex-Token=s3cr3tT0ken")
        logger.debug("s3cr3tT0ken in the message")
        text = self.stream.getvalue()
        self.assertNotIn("s3cr3tT0ken", text)
        self.assertEqual(text.count("[redacted]"), 2, text)

    def test_empty_secret_masks_nothing(self):
        logger = self.setup_log()
        log.add_secret("")
        logger.info("hello", player="Office")
        self.assertEqual(self.lines(), ["[INFO] hello player=Office"])

    def test_exception_gives_an_error_field_on_one_line(self):
        logger = self.setup_log("info")
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            logger.exception("action handler failed", action="PlayerStateChanged")
        lines = self.lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("[ERROR] action handler failed "), lines[0])
        fields = dict(parse_fields(lines[0][len("[ERROR] action handler failed "):]))
        self.assertEqual(fields["action"], "PlayerStateChanged")
        self.assertEqual(fields["error"], "ValueError: bad\nthing")
        self.assertNotIn("traceback", fields)
        self.assertNotIn("Traceback", lines[0])

    def test_exception_at_debug_carries_the_traceback_in_a_field(self):
        logger = self.setup_log("debug")
        try:
            raise KeyError("x")
        except KeyError:
            logger.exception("session fetcher failed")
        lines = self.lines()
        self.assertEqual(len(lines), 1, lines)
        fields = dict(parse_fields(lines[0][len("[ERROR] session fetcher failed "):]))
        self.assertEqual(fields["error"], "KeyError: 'x'")
        self.assertIn("Traceback (most recent call last)", fields["traceback"])

    def test_setup_twice_does_not_duplicate_lines(self):
        log.setup("info", stream=io.StringIO(), environ={"JOURNAL_STREAM": "1:1"})
        logger = self.setup_log()
        logger.info("once")
        self.assertEqual(self.lines(), ["[INFO] once"])


class FormatterDirectTest(unittest.TestCase):

    def record(self, level, msg, fields=None):
        record = logging.LogRecord("streamerbrainz.t", level, __file__, 1, msg, (), None)
        if fields is not None:
            record.fields = fields
        return record

    def test_without_timestamps(self):
        formatter = log.LogfmtFormatter(timestamps=False)
        self.assertEqual(formatter.format(self.record(logging.WARNING, "x", {"a": "b c"})),
                         '[WARN] x a="b c"')

    def test_critical_is_tagged_error(self):
        formatter = log.LogfmtFormatter(timestamps=False)
        self.assertEqual(formatter.format(self.record(logging.CRITICAL, "boom")), "[ERROR] boom")

    def test_with_timestamps(self):
        formatter = log.LogfmtFormatter(timestamps=True)
        line = formatter.format(self.record(logging.INFO, "hi"))
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \[INFO\] hi$")


class TestsReaderTest(unittest.TestCase):
    """The tests' line reader (tests/support/logfmt.py) reads what the formatter wrote."""

    record = FormatterDirectTest.record

    def test_a_whole_line_reads_back_as_level_message_and_fields(self):
        hostile = 'Say "Hi"\n[ERROR] forged level=error'
        line = log.LogfmtFormatter(timestamps=True).format(self.record(
            logging.WARNING, "hook failed", {"hook": "on-play", "output": hostile, "n": 3}))
        parsed = parse_log_line(line)
        self.assertIsNotNone(parsed.timestamp)
        self.assertEqual((parsed.level, parsed.message), ("WARN", "hook failed"))
        self.assertEqual(parsed.fields, {"hook": "on-play", "output": hostile, "n": "3"})

    def test_a_line_without_fields_and_a_line_that_is_no_log_line(self):
        self.assertEqual(parse_log_line("[INFO] shutting down"),
                         (None, "INFO", "shutting down", {}))
        self.assertIsNone(parse_log_line("Traceback (most recent call last):"))

    def test_fields_a_logfmt_reader_cannot_read_are_refused(self):
        for line in ('[INFO] x title="unterminated', '[INFO] x a=b"c', '[INFO] x a="b"c',
                     "[INFO] x a=b stray", '[INFO] x a="\\q"'):
            with self.subTest(line=line), self.assertRaises(ValueError):
                parse_log_line(line)


if __name__ == "__main__":
    unittest.main()
