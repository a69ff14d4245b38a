"""The words a reader asks the history with: times ago, dates, cursors, and a clear line for
anything else."""

import datetime
import unittest

from streamerbrainz.history import query as queries

NOW = 1_796_300_000.0


class MomentTest(unittest.TestCase):

    def test_a_time_ago(self):
        for text, seconds in (("90s", 90), ("90m", 5400), ("12h", 43200), ("7d", 604800),
                              ("2w", 1209600)):
            with self.subTest(text=text):
                self.assertEqual(queries.moment("since", text, NOW), NOW - seconds)

    def test_iso_dates_and_times_local_unless_they_say(self):
        local = datetime.datetime(2026, 12, 1).astimezone().timestamp()
        self.assertEqual(queries.moment("since", "2026-12-01", NOW), local)
        self.assertEqual(queries.moment("since", "2026-12-01T10:00:00Z", NOW),
                         datetime.datetime(2026, 12, 1, 10, tzinfo=datetime.timezone.utc)
                         .timestamp())
        self.assertEqual(queries.moment("since", "2026-12-01T10:00:00+01:00", NOW),
                         datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.timezone.utc)
                         .timestamp())

    def test_unix_seconds(self):
        self.assertEqual(queries.moment("since", "1796000000", NOW), 1796000000.0)

    def test_anything_else_names_the_word_and_what_it_takes(self):
        for text in ("yesterday", "7 days", "-7d", "7x", "1e9", ""):
            with self.subTest(text=text), self.assertRaises(ValueError) as caught:
                queries.moment("until", text, NOW)
            self.assertTrue(str(caught.exception).startswith("until: %r is no time" % text))


class WordsTest(unittest.TestCase):

    def refused(self, text):
        with self.assertRaises(ValueError) as caught:
            queries.from_url(text, NOW)
        return str(caught.exception)

    def test_every_word(self):
        query = queries.from_url("limit=10&before=99&player=Kitchen&since=1d&until=1h", NOW)
        self.assertEqual(query, queries.Query(limit=10, before=99, player="Kitchen",
                                              since=NOW - 86400, until=NOW - 3600))
        self.assertEqual(queries.from_url("", NOW), queries.Query())

    def test_refusals(self):
        self.assertEqual(self.refused("limit=0"), "limit: '0'; give a number from 1 to 1000")
        self.assertEqual(self.refused("limit=1001"),
                         "limit: '1001'; give a number from 1 to 1000")
        self.assertEqual(self.refused("before=x"),
                         "before: 'x'; give the next value of the page before")
        self.assertEqual(self.refused("limit=5&limit=6"), "limit: given twice")
        self.assertEqual(self.refused("token=abc"),
                         "token: unknown; the words are limit, before, player, since, until")
        self.assertEqual(self.refused("since=1h&until=2h"),
                         "until: before since; give a range that ends after it starts")


if __name__ == "__main__":
    unittest.main()
