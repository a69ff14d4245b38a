"""The repeat filter that keeps one failure from flooding the log."""

import unittest

from streamerbrainz.lib.repeats import RepeatFilter


class RepeatFilterTest(unittest.TestCase):

    def test_first_occurrence_is_logged(self):
        self.assertEqual(RepeatFilter(window=60).check("network", 100.0), (True, 0))

    def test_repeats_within_the_window_are_counted_not_logged(self):
        repeats = RepeatFilter(window=60)
        repeats.check("network", 100.0)
        for now in (101.0, 110.0, 159.0):
            self.assertEqual(repeats.check("network", now), (False, 0))

    def test_summary_after_the_window(self):
        repeats = RepeatFilter(window=60)
        repeats.check("network", 100.0)
        for now in (101.0, 110.0, 159.0):
            repeats.check("network", now)
        self.assertEqual(repeats.check("network", 161.0), (True, 3))
        # The count starts again after a summary.
        self.assertEqual(repeats.check("network", 162.0), (False, 0))
        self.assertEqual(repeats.check("network", 230.0), (True, 1))

    def test_once_after_the_window_with_no_repeats(self):
        repeats = RepeatFilter(window=60)
        repeats.check("network", 100.0)
        self.assertEqual(repeats.check("network", 500.0), (True, 0))

    def test_keys_are_independent(self):
        repeats = RepeatFilter(window=60)
        self.assertEqual(repeats.check(("network", 0), 100.0), (True, 0))
        self.assertEqual(repeats.check(("http", 500), 100.5), (True, 0))
        self.assertEqual(repeats.check(("network", 0), 101.0), (False, 0))
        self.assertEqual(repeats.check(("http", 500), 101.0), (False, 0))

    def test_clear_forgets_everything(self):
        repeats = RepeatFilter(window=60)
        repeats.check("a", 100.0)
        repeats.check("a", 101.0)
        repeats.check("b", 101.0)
        self.assertEqual(repeats.clear(), 2)
        self.assertEqual(repeats.check("a", 102.0), (True, 0))


if __name__ == "__main__":
    unittest.main()
