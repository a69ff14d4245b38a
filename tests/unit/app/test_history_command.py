"""``streamerbrainz history``: a table newest first, the JSON of /history, the ListenBrainz
export, and one line when there is nothing to read."""

import contextlib
import io
import json
import tempfile
import time
import unittest

from streamerbrainz.app import cli
from tests.unit.history.test_reader import add_plays


def run(argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["history"] + argv, environ or {})
    return status, out.getvalue(), err.getvalue()


class HistoryCommandTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-history-")
        self.now = time.time()
        add_plays(self.dir, [
            dict(started_at=self.now - 7200, title="Early", artist="A", listened_ms=95_000,
                 counted=1),
            dict(started_at=self.now - 3600, title="Skipped", artist="B", listened_ms=12_000,
                 counted=0, player="Kitchen", machine_id="kitchen"),
            dict(started_at=self.now - 60, title="Now", artist="C", listened_ms=30_000,
                 counted=0, ended_at=None, ended_by=""),
        ])

    def test_a_table_newest_first(self):
        status, out, err = run(["-state-dir", self.dir])
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["STARTED", "PLAYER", "SOURCE", "ARTIST", "TITLE",
                                            "HEARD", "COUNTS", "ENDED", "BY"])
        self.assertEqual([line.split()[2:] for line in lines[1:]], [
            ["Office", "plex", "C", "Now", "0:30", "no", "playing"],
            ["Kitchen", "plex", "B", "Skipped", "0:12", "no", "track", "change"],
            ["Office", "plex", "A", "Early", "1:35", "yes", "track", "change"]])

    def test_since_player_limit_and_the_state_directory_from_systemd(self):
        status, out, _ = run(["-since", "90m", "-player", "kitchen"],
                             {"STATE_DIRECTORY": self.dir})
        self.assertEqual(status, 0)
        self.assertEqual([line.split()[5] for line in out.splitlines()[1:]], ["Skipped"])
        status, out, _ = run(["-state-dir", self.dir, "-limit", "1"])
        self.assertEqual(out.splitlines()[1:], [out.splitlines()[1],
                                                "(older plays left out: give -limit or -since)"])
        self.assertEqual(run(["-state-dir", self.dir, "-since", "1m", "-player", "nobody"])[1],
                         "No plays since then.\n")

    def test_json_is_what_get_history_answers(self):
        status, out, _ = run(["-state-dir", self.dir, "-json", "-limit", "2"])
        document = json.loads(out)
        self.assertEqual([play["title"] for play in document["plays"]], ["Now", "Skipped"])
        self.assertIsInstance(document["next"], int)

    def test_the_listenbrainz_export_takes_every_counted_play(self):
        status, out, _ = run(["-state-dir", self.dir, "-export", "listenbrainz", "-limit", "1"])
        listens = json.loads(out)
        self.assertEqual([listen["track_metadata"]["track_name"] for listen in listens],
                         ["Early"])
        self.assertEqual(listens[0]["listened_at"], int(self.now - 7200))

    def test_nothing_to_read_is_one_line_and_exit_1(self):
        empty = tempfile.mkdtemp(prefix="sb-history-")
        status, out, err = run(["-state-dir", empty])
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "streamerbrainz: %s/streamerbrainz.sqlite3: no history yet; the "
                              "daemon keeps one when run with -state-dir %s\n" % (empty, empty))

    def test_bad_values_are_usage_errors(self):
        for argv, line in (
                (["-since", "lately"], "streamerbrainz: -since: 'lately' is no time; give a time "
                                       "ago (7d, 12h), a date (2026-12-01) or Unix seconds\n"),
                (["-export", "csv"], "streamerbrainz: -export: 'csv' is not one of "
                                     "listenbrainz\n"),
                (["-history-days", "3"], "streamerbrainz: -history-days: not a flag of history "
                                         "(it is for run; see -help)\n")):
            with self.subTest(argv=argv):
                self.assertEqual(run(["-state-dir", self.dir] + argv), (2, "", line))


if __name__ == "__main__":
    unittest.main()
