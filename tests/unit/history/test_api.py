"""What /history and /history/stats answer for a real database: pages, stats, refusals."""

import os
import tempfile
import unittest

from streamerbrainz.history import api
from streamerbrainz.history import store as stores
from tests.unit.history.test_reader import DAY, NOW, add_plays


class AnswerTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-api-")

    def test_a_page_of_plays_and_the_cursor_to_the_next(self):
        add_plays(self.dir, [dict(started_at=NOW - i, title="Song %d" % i) for i in range(3)])
        status, body = api.answer(self.dir, "plays", "limit=2", NOW)
        self.assertEqual(status, 200)
        self.assertEqual([play["title"] for play in body["plays"]], ["Song 2", "Song 1"])
        status, body = api.answer(self.dir, "plays", "before=%d" % body["next"], NOW)
        self.assertEqual(([play["title"] for play in body["plays"]], body["next"]),
                         (["Song 0"], None))

    def test_stats_cover_the_last_30_days_unless_asked(self):
        add_plays(self.dir, [dict(started_at=NOW - 10 * DAY), dict(started_at=NOW - 40 * DAY)])
        self.assertEqual(api.answer(self.dir, "stats", "", NOW)[1]["totals"]["plays"], 1)
        self.assertEqual(api.answer(self.dir, "stats", "since=60d", NOW)[1]["totals"]["plays"],
                         2)

    def test_a_bad_word_is_400_and_a_missing_or_damaged_database_404_or_503(self):
        self.assertEqual(api.answer(self.dir, "plays", "limit=x", NOW)[0], 400)
        status, body = api.answer(self.dir, "plays", "", NOW)
        self.assertEqual(status, 404)
        self.assertIn("no history yet", body["error"])
        with open(os.path.join(self.dir, stores.FILE), "wb") as handle:
            handle.write(b"not a database" * 100)
        status, body = api.answer(self.dir, "stats", "", NOW)
        self.assertEqual(status, 503)
        self.assertIn("cannot read the history", body["error"])


if __name__ == "__main__":
    unittest.main()
