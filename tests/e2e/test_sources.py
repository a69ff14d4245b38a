"""End to end: the bridges other players run, and ``POST /sources/<name>``.

librespot runs ``python -m streamerbrainz librespot-event`` once per event
with ``PLAYER_EVENT`` and its variables in the environment (fact sheet
../shared/audio-chain-protocol.md §3); shairport-sync runs ``python -m
streamerbrainz source-event airplay playing`` from its hooks (§4). Here the
real daemon runs as a subprocess (without Plex unless a test needs it) and
each bridge call is a real subprocess too, timed, with the tests' clean
environment plus librespot's variables. What is checked is what a user
notices: the exit status librespot or shairport-sync sees, what lands on
stderr (their log), how long each call holds the player up, and the state
the daemon shows right afterwards (its ``... state changed`` lines,
``/state``, the hooks). Every wait is for a line or a file, with a deadline.
"""

import datetime
import json
import os
import re
import shlex
import shutil
import socket
import tempfile
import threading
import time
import unittest

from tests.e2e.test_hooks import read_text, write_script
from tests.support import webhooks
from tests.support.daemon import (E2ECase, free_port, parse_log_line, run_cli, start_daemon,
                                  wait_for)

BOUND = 3.0  # a bridge call against a daemon that is up (or down) ends within this
BRIDGE_TIMEOUT = 3.0  # the bridge's own limit for the whole exchange
MARGIN = 1.5  # start-up and teardown of a bridge beyond its timeout

TRACK_ID = "6rqhFgbbKwnb9MLmUQDhG6"
NEXT_TRACK_ID = "2takcwOaAZWiXQijPHIx7B"
TRACK = {  # track_changed for a Track, every variable librespot 0.7 sets
    "TRACK_ID": TRACK_ID, "URI": "spotify:track:" + TRACK_ID, "NAME": "Road to Nowhere",
    "COVERS": "https://i.scdn.co/image/ab67616d0000b273a\nhttps://i.scdn.co/image/ab67616d00001e02a",
    "LANGUAGE": "en", "DURATION_MS": "259560", "IS_EXPLICIT": "false", "ITEM_TYPE": "Track",
    "ARTISTS": "Talking Heads\nDavid Byrne", "ALBUM_ARTISTS": "Talking Heads",
    "ALBUM": "Little Creatures", "POPULARITY": "61", "NUMBER": "9", "DISC_NUMBER": "1",
}
ARTISTS = "Talking Heads, David Byrne"
NEXT_TRACK = dict(TRACK, TRACK_ID=NEXT_TRACK_ID, URI="spotify:track:" + NEXT_TRACK_ID,
                  NAME="And She Was", ARTISTS="Talking Heads", NUMBER="3", DURATION_MS="220000")
EPISODE = {
    "TRACK_ID": "4rOoJ6Egrf8K2IrywzwOMk", "URI": "spotify:episode:4rOoJ6Egrf8K2IrywzwOMk",
    "NAME": "Episode 12: Loudness", "COVERS": "https://i.scdn.co/image/ep", "LANGUAGE": "en",
    "DURATION_MS": "3600000", "IS_EXPLICIT": "false", "ITEM_TYPE": "Episode",
    "DESCRIPTION": "About levels.", "PUBLISH_TIME": "1700000000", "SHOW_NAME": "Audio Talk",
}
SESSION = {"USER_NAME": "31l7xq2sfn4aqz", "CONNECTION_ID": "c0ffee"}
CLIENT = {"CLIENT_ID": "65b708073fc0480ea92a077233ca87bd", "CLIENT_NAME": "Kitchen phone",
          "CLIENT_BRAND_NAME": "Google", "CLIENT_MODEL_NAME": "Pixel 7"}

SECRET = "hunter2"
LIBRESPOT_SETTINGS = {  # what raspotify's /etc/raspotify/conf puts into librespot's environment
    "LIBRESPOT_USERNAME": "someone@example.org",
    "LIBRESPOT_PASSWORD": SECRET,
    "LIBRESPOT_ONEVENT": "python3 -m streamerbrainz librespot-event -url http://sbz:%s@127.0.0.1/"
                         % SECRET,
    "LIBRESPOT_ACCESS_TOKEN": "BQD-" + SECRET + "-token",
}

LOG_LEVEL = re.compile(r"^(?:\S+ )?\[(?:DEBUG|INFO|WARN|ERROR)\] ")
FORGED = re.compile(r"^(?:\d{4}-\d\d-\d\dT\S+ )?\[(?:DEBUG|INFO|WARN|ERROR)\] forged")


def change_pattern(label, state):
    """A ``Spotify state changed state=STATE`` (or AirPlay, ...) INFO line."""
    return re.compile(r"\[INFO\] %s state changed state=%s(?: |$)" % (re.escape(label),
                                                                       re.escape(state)))


class HungDaemon:
    """A socket on loopback that accepts every connection and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.held = []
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="hung-daemon", daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(2)
        for conn in self.held:
            conn.close()


class BridgeCase(unittest.TestCase):
    """The daemon (Plex off) and the bridges as subprocesses, with helpers to read both."""

    maxDiff = None

    def start(self, extra_args=(), env=None):
        self.daemon = start_daemon(self, extra_args=extra_args, env=env)
        self.url = "http://127.0.0.1:%d" % self.daemon.port
        return self.daemon

    # -- running the bridges ------------------------------------------------------

    def bridge(self, command, *args, env=None, url=True, expect=0, quiet=True, bound=BOUND):
        """Run ``python -m streamerbrainz COMMAND [-url daemon] ARGS``; check and return it.

        ``url`` True passes the test daemon's URL, a string that URL, False
        none. Checks the exit status (unless ``expect`` is None), that it
        ended within ``bound`` seconds and (``quiet``) that stderr is empty.
        The result has ``.seconds``.
        """
        argv = [command]
        if url is True:
            url = self.url
        if url:
            argv += ["-url", url]
        argv += list(args)
        began = time.monotonic()
        result = run_cli(argv, env=env, timeout=bound + 10)
        result.seconds = time.monotonic() - began
        what = "%s with %r: exit %d after %.2fs, stderr %r\nlog:\n%s" % (
            " ".join(shlex.quote(a) for a in argv), env, result.returncode, result.seconds,
            result.stderr, self.daemon.log() if hasattr(self, "daemon") else "")
        if expect is not None:
            self.assertEqual(result.returncode, expect, what)
        self.assertLess(result.seconds, bound, what)
        if quiet:
            self.assertEqual(result.stderr, "", what)
        return result

    def librespot(self, event, variables=None, **kwargs):
        """librespot's --onevent call for ``event`` with ``variables`` in the environment."""
        env = dict(variables or {}, PLAYER_EVENT=event)
        env.update(kwargs.pop("env", {}))
        return self.bridge("librespot-event", env=env, **kwargs)

    def one_line(self, result, *texts):
        """stderr is one line holding every one of ``texts``; return it."""
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(result.stderr.endswith("\n"), result.stderr)
        for text in texts:
            self.assertIn(text, lines[0])
        return lines[0]

    # -- what the daemon shows ------------------------------------------------------

    def wait_change(self, label, state, n=1, start=0, timeout=5):
        """Wait for ``n`` ``LABEL state changed state=STATE`` lines; the last one's fields."""
        lines = self.daemon.wait_for_lines(change_pattern(label, state), n, timeout, start)
        return parse_log_line(lines[n - 1]).fields

    def changes(self, label, start=0):
        """``(state, title)`` of every ``LABEL state changed`` line from ``start`` on."""
        result = []
        for line in self.daemon.lines()[start:]:
            record = parse_log_line(line)
            if record is not None and record.message == "%s state changed" % label:
                result.append((record.fields["state"], record.fields["title"]))
        return result

    def state(self):
        status, headers, body = webhooks.get(self.daemon.port, "/state")
        self.assertEqual(status, 200, body)
        return json.loads(body.decode("utf-8"))

    def player(self, machine_id):
        """The player ``machine_id`` in ``/state``, or None."""
        for player in self.state()["players"]:
            if player["machine_id"] == machine_id:
                return player
        return None

    def post_source(self, name, body, content_type="application/json"):
        path = "/sources/" + name
        return webhooks.post(self.daemon.port, body, content_type, path=path)


# -- librespot-event against a daemon that is up ------------------------------------

class LibrespotEventTests(BridgeCase):

    def test_every_event_of_a_session_exits_0_quietly_and_the_state_follows(self):
        self.start()
        steps = [  # (event, variables, the Spotify state afterwards or None for no change)
            ("session_connected", SESSION, None),
            ("session_client_changed", CLIENT, None),
            ("volume_changed", {"VOLUME": "39321"}, None),
            ("auto_play_changed", {"AUTO_PLAY": "true"}, None),
            ("filter_explicit_content_changed", {"FILTER": "false"}, None),
            ("shuffle_changed", {"SHUFFLE": "false"}, None),
            ("repeat_changed", {"REPEAT": "false", "REPEAT_TRACK": "false"}, None),
            ("play_request_id_changed", {"PLAY_REQUEST_ID": "1e0b4f9d"}, None),
            ("loading", {"TRACK_ID": TRACK_ID}, None),
            ("track_changed", TRACK, None),
            ("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "0"}, "playing"),
            ("seeked", {"TRACK_ID": TRACK_ID, "POSITION_MS": "120000"}, None),
            ("position_correction", {"TRACK_ID": TRACK_ID, "POSITION_MS": "120040"}, None),
            ("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "121000"}, "paused"),
            ("sink", {"SINK_STATUS": "closed"}, None),
            ("sink", {"SINK_STATUS": "running"}, "playing"),
            ("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "121000"}, None),
            # (preloading names the next track: see the test of its own below)
            ("preload_next", {"TRACK_ID": TRACK_ID}, None),
            ("preloading", {"TRACK_ID": TRACK_ID}, None),
            ("end_of_track", {"TRACK_ID": TRACK_ID}, None),
            ("sink", {"SINK_STATUS": "temporarily_closed"}, None),
            ("unavailable", {"TRACK_ID": TRACK_ID}, None),
            ("stopped", {"TRACK_ID": TRACK_ID}, "stopped"),
            ("session_disconnected", SESSION, None),
        ]
        expected, slowest = [], 0.0
        for event, variables, state in steps:
            with self.subTest(event=event, variables=variables):
                mark = self.daemon.mark()
                result = self.librespot(event, variables)
                slowest = max(slowest, result.seconds)
                self.daemon.wait_for_line("source event received source=spotify event=%s "
                                          % event, start=mark)
                if state is not None:
                    expected.append((state, TRACK["NAME"]))
                    fields = self.wait_change("Spotify", state, start=mark)
                    self.assertEqual(fields["title"], TRACK["NAME"])
                    self.assertEqual(fields["artist"], ARTISTS)
                    self.assertEqual(self.player("spotify")["state"], state)
                if event == "seeked":  # no change line, but /state has the new position
                    self.assertTrue(wait_for(lambda: self.player("spotify")["position_ms"]
                                             >= 120000, 3), self.state())
        # The changes, in order, and nothing else: the other events decide no state.
        self.wait_change("Spotify", "stopped")
        self.assertEqual(self.changes("Spotify"), expected, self.daemon.log())
        player = self.player("spotify")
        self.assertEqual((player["state"], player["title"], player["artist"], player["album"]),
                         ("stopped", TRACK["NAME"], ARTISTS, TRACK["ALBUM"]))
        self.assertLess(slowest, BOUND)

    def test_track_changed_then_playing_is_a_state_changed_line_with_the_track(self):
        self.start()
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "0"})
        fields = self.wait_change("Spotify", "playing")
        self.assertEqual(fields["title"], "Road to Nowhere")
        self.assertEqual(fields["artist"], "Talking Heads, David Byrne")
        self.assertEqual(fields["album"], "Little Creatures")
        self.assertEqual(fields["duration_ms"], "259560")
        self.assertEqual((fields["player"], fields["product"], fields["machine_id"]),
                         ("Spotify", "librespot", "spotify"))
        line = self.daemon.matching(change_pattern("Spotify", "playing"))[0]
        self.assertIn('Spotify state changed state=playing title="Road to Nowhere" '
                      'artist="Talking Heads, David Byrne" ', line)
        player = self.player("spotify")
        self.assertEqual({key: player[key] for key in (
            "machine_id", "source", "player", "product", "state", "title", "artist", "album",
            "duration_ms")}, {
            "machine_id": "spotify", "source": "spotify", "player": "Spotify",
            "product": "librespot", "state": "playing", "title": "Road to Nowhere",
            "artist": ARTISTS, "album": "Little Creatures", "duration_ms": 259560})
        self.assertTrue(self.state()["any_playing"])

        # The next track while playing: the new title, still playing.
        mark = self.daemon.mark()
        self.librespot("track_changed", NEXT_TRACK)
        fields = self.wait_change("Spotify", "playing", start=mark)
        self.assertEqual((fields["title"], fields["artist"]), ("And She Was", "Talking Heads"))

        mark = self.daemon.mark()
        self.librespot("paused", {"TRACK_ID": NEXT_TRACK_ID, "POSITION_MS": "4200"})
        fields = self.wait_change("Spotify", "paused", start=mark)
        self.assertEqual((fields["title"], fields["position_ms"]), ("And She Was", "4200"))
        self.assertFalse(self.state()["any_playing"])

        mark = self.daemon.mark()
        self.librespot("stopped", {"TRACK_ID": NEXT_TRACK_ID})
        self.wait_change("Spotify", "stopped", start=mark)
        self.assertEqual(self.player("spotify")["state"], "stopped")

    def test_preloading_the_next_track_keeps_the_track_that_plays(self):
        # Near the end of each track librespot preloads the next one:
        # preload_next (TRACK_ID = the track playing), then preloading with
        # TRACK_ID = the NEXT track (librespot's PlayerEvent::Preloading),
        # then end_of_track of the track playing. Until the next track
        # loads, what plays is still the current track, with its title.
        self.start()
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "200000"})
        self.wait_change("Spotify", "playing")
        mark = self.daemon.mark()
        self.librespot("preload_next", {"TRACK_ID": TRACK_ID, "PLAY_REQUEST_ID": "7"})
        self.librespot("preloading", {"TRACK_ID": NEXT_TRACK_ID})
        self.librespot("end_of_track", {"TRACK_ID": TRACK_ID, "PLAY_REQUEST_ID": "7"})
        self.librespot("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "259000"})
        self.wait_change("Spotify", "paused", start=mark)
        self.assertEqual(self.changes("Spotify", mark), [("paused", TRACK["NAME"])],
                         "preloading the next track is no change of the track playing:\n"
                         + "\n".join(self.daemon.matching("Spotify state changed", mark)))
        self.assertEqual(self.player("spotify")["title"], TRACK["NAME"])

    def test_the_next_track_is_announced_with_its_title(self):
        # librespot 0.5+ sends loading (TRACK_ID = the new track) when it
        # starts loading it, track_changed with its metadata once loaded
        # (player.rs start_playback), then playing. The change a user sees
        # (log line, -on-change, /events) must carry the new title.
        self.start()
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "0"})
        self.wait_change("Spotify", "playing")
        mark = self.daemon.mark()
        self.librespot("loading", {"TRACK_ID": NEXT_TRACK_ID, "PLAY_REQUEST_ID": "8"})
        self.librespot("track_changed", NEXT_TRACK)
        self.librespot("playing", {"TRACK_ID": NEXT_TRACK_ID, "POSITION_MS": "0"})
        self.librespot("paused", {"TRACK_ID": NEXT_TRACK_ID, "POSITION_MS": "1000"})
        self.wait_change("Spotify", "paused", start=mark)
        self.assertEqual(self.changes("Spotify", mark),
                         [("playing", "And She Was"), ("paused", "And She Was")],
                         "the next track's change line has no title:\n"
                         + "\n".join(self.daemon.matching("Spotify state changed", mark)))

    def test_an_episode_shows_its_name_and_show(self):
        self.start()
        self.librespot("track_changed", EPISODE)
        self.librespot("playing", {"TRACK_ID": EPISODE["TRACK_ID"], "POSITION_MS": "0"})
        fields = self.wait_change("Spotify", "playing")
        self.assertEqual(fields["title"], "Episode 12: Loudness")
        self.assertEqual(fields["artist"], "Audio Talk")
        self.assertEqual(fields["duration_ms"], "3600000")

    def test_an_unknown_event_exits_0_quietly_and_changes_nothing(self):
        self.start()
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        self.wait_change("Spotify", "playing")
        mark = self.daemon.mark()
        for event, variables in [("position_changed", {"TRACK_ID": TRACK_ID,
                                                       "POSITION_MS": "9000"}),
                                 ("some_event_of_0_9", {"WHATEVER": "x", "TRACK_ID": TRACK_ID}),
                                 ("", {})]:
            with self.subTest(event=event):
                self.librespot(event, variables)
        self.librespot("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "9500"})
        self.wait_change("Spotify", "paused", start=mark)
        self.assertEqual(self.changes("Spotify", mark), [("paused", TRACK["NAME"])],
                         self.daemon.log())
        self.assertTrue(self.daemon.running())

    def test_librespot_0_4_names(self):
        self.start()
        old = "0Xa8ESvDxaIqbsE7B0DgJ1"
        steps = [  # 0.4.x: changed, started, playing, paused, volume_set, stopped
            ("volume_set", {"VOLUME": "65535"}, None),
            ("changed", {"OLD_TRACK_ID": "", "TRACK_ID": old}, None),
            ("started", {"TRACK_ID": old}, "playing"),
            ("playing", {"TRACK_ID": old, "DURATION_MS": "200000", "POSITION_MS": "0"}, None),
            ("paused", {"TRACK_ID": old, "DURATION_MS": "200000", "POSITION_MS": "5000"},
             "paused"),
            ("playing", {"TRACK_ID": old, "DURATION_MS": "200000", "POSITION_MS": "5000"},
             "playing"),
            ("preloading", {"TRACK_ID": old}, None),
            ("sink", {"SINK_STATUS": "closed"}, "paused"),  # Spotify let go of the device
            ("stopped", {"TRACK_ID": old}, "stopped"),
        ]
        counts = {}
        for event, variables, state in steps:
            with self.subTest(event=event):
                self.librespot(event, variables)
                if state is not None:
                    counts[state] = counts.get(state, 0) + 1
                    self.wait_change("Spotify", state, counts[state])
                    self.assertEqual(self.player("spotify")["state"], state)
        self.assertEqual([state for state, _ in self.changes("Spotify")],
                         ["playing", "paused", "playing", "paused", "stopped"],
                         self.daemon.log())
        self.assertEqual(self.player("spotify")["rating_key"], old)

    def test_a_huge_name_is_cut_and_still_plays(self):
        self.start()
        name = "Long " * 4000  # 20 000 characters
        self.librespot("track_changed", dict(TRACK, NAME=name))
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        fields = self.wait_change("Spotify", "playing")
        self.assertTrue(name.startswith(fields["title"]) and 0 < len(fields["title"]) < 4096,
                        len(fields["title"]))
        self.assertLess(max(len(line) for line in self.daemon.lines()), 16384)

    def test_usage_errors_exit_0_with_one_line(self):
        self.start()
        for args in (["stray-argument"], ["-no-such-flag"], ["-url"]):
            with self.subTest(args=args):
                result = self.bridge("librespot-event", *args, env={"PLAYER_EVENT": "playing"},
                                     quiet=False)
                self.one_line(result, "librespot-event")
        # No PLAYER_EVENT at all (run by hand): still 0 and one line.
        result = self.bridge("librespot-event", quiet=False)
        self.one_line(result, "librespot-event")
        self.assertEqual(self.changes("Spotify"), [])

    def test_streamerbrainz_url_from_the_environment(self):
        self.start()
        env = {"STREAMERBRAINZ_URL": self.url, "PLAYER_EVENT": "started", "TRACK_ID": TRACK_ID}
        self.bridge("librespot-event", env=env, url=False)
        self.wait_change("Spotify", "playing")
        # -url wins over the environment.
        env = dict(env, STREAMERBRAINZ_URL="http://127.0.0.1:%d" % free_port(),
                   PLAYER_EVENT="stopped")
        self.bridge("librespot-event", env=env)
        self.wait_change("Spotify", "stopped")


class SecretTests(BridgeCase):

    def test_librespot_credentials_in_the_environment_never_reach_the_daemon(self):
        self.start()  # at debug level (start_daemon's default)
        for event, variables in [("session_connected", SESSION), ("session_client_changed",
                                                                   CLIENT),
                                 ("track_changed", TRACK),
                                 ("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "0"}),
                                 ("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "100"})]:
            self.librespot(event, variables, env=LIBRESPOT_SETTINGS)
        self.wait_change("Spotify", "paused")
        self.daemon.wait_for_line("source event received source=spotify event=paused")
        state = json.dumps(self.state())
        self.daemon.stop()
        output = self.daemon.lines() + self.daemon.stdout_lines()
        self.assertTrue(any("[DEBUG]" in line for line in output), "not at debug level")
        for name, value in LIBRESPOT_SETTINGS.items():
            for text in (value, name):
                self.assertNotIn(text, state, "%s reached /state" % name)
                for line in output:
                    self.assertNotIn(text, line, "%s reached the daemon's log" % name)
        for line in output:
            self.assertNotIn(SECRET, line)
            # librespot's account id is not the daemon's business either.
            self.assertNotIn(SESSION["USER_NAME"], line)
        self.assertNotIn(SECRET, state)
        self.assertNotIn(SESSION["USER_NAME"], state)


# -- the daemon down or hung ----------------------------------------------------------

class DaemonUnreachableTests(BridgeCase):

    def test_daemon_down_exits_0_with_one_line_naming_its_url(self):
        url = "http://127.0.0.1:%d" % free_port()
        for event in ("playing", "session_client_changed", "no_such_event"):
            with self.subTest(event=event):
                result = self.librespot(event, {"TRACK_ID": TRACK_ID}, url=url, quiet=False)
                self.one_line(result, url)
        # The URL from the environment is the one named.
        result = self.bridge("librespot-event", url=False, quiet=False,
                             env={"STREAMERBRAINZ_URL": url, "PLAYER_EVENT": "paused"})
        self.one_line(result, url)
        result = self.bridge("source-event", "airplay", "playing", "A Title", url=url,
                             quiet=False)
        self.one_line(result, url)

    def test_a_hung_daemon_is_given_up_within_the_timeout(self):
        hung = HungDaemon()
        self.addCleanup(hung.close)
        bound = BRIDGE_TIMEOUT + MARGIN
        result = self.librespot("playing", {"TRACK_ID": TRACK_ID}, url=hung.url, quiet=False,
                                bound=bound)
        self.assertTrue(hung.accepted.is_set(), "the bridge never connected")
        self.one_line(result, hung.url)
        self.assertGreaterEqual(result.seconds, BRIDGE_TIMEOUT * 0.8,
                                "gave up before its timeout: %r" % result.stderr)
        result = self.bridge("source-event", "airplay", "stopped", url=hung.url, quiet=False,
                             bound=bound)
        self.one_line(result, hung.url)


# -- source-event (shairport-sync) ------------------------------------------------------

class SourceEventTests(BridgeCase):

    def test_airplay_plays_then_stops(self):
        self.start()
        self.bridge("source-event", "airplay", "playing", "Some Title")
        fields = self.wait_change("AirPlay", "playing")
        self.assertEqual((fields["title"], fields["player"], fields["product"],
                          fields["machine_id"]), ("Some Title", "AirPlay", "shairport-sync",
                                                  "airplay"))
        player = self.player("airplay")
        self.assertEqual((player["state"], player["title"], player["source"], player["player"]),
                         ("playing", "Some Title", "airplay", "AirPlay"))
        self.bridge("source-event", "airplay", "stopped")
        self.wait_change("AirPlay", "stopped")
        self.assertEqual(self.player("airplay")["state"], "stopped")
        self.assertFalse(self.state()["any_playing"])
        self.assertEqual([state for state, _ in self.changes("AirPlay")], ["playing", "stopped"])

    def test_without_a_title_and_paused(self):
        self.start()
        self.bridge("source-event", "airplay", "playing")
        self.wait_change("AirPlay", "playing")
        self.bridge("source-event", "airplay", "paused")
        self.wait_change("AirPlay", "paused")

    def test_streamerbrainz_url_from_the_environment(self):
        self.start()
        self.bridge("source-event", "airplay", "playing", "From the environment",
                    env={"STREAMERBRAINZ_URL": self.url}, url=False)
        fields = self.wait_change("AirPlay", "playing")
        self.assertEqual(fields["title"], "From the environment")

    def test_usage_errors_exit_2_with_one_line(self):
        self.start()
        for args in (["airplay"], [], ["airplay", "playing", "title", "extra"],
                     ["-no-such-flag", "airplay", "playing"]):
            with self.subTest(args=args):
                result = self.bridge("source-event", *args, expect=2, quiet=False)
                self.one_line(result, "source-event")
        self.assertEqual(self.changes("AirPlay"), [])

    def test_a_bad_state_is_a_usage_error_exit_2(self):
        # Brief: "a bad state: exit 2 with one usage line". The bridge does
        # not check the state: it sends it, the daemon answers 400, and the
        # bridge exits 0 (a typo in shairport-sync.conf goes unnoticed).
        self.start()
        result = self.bridge("source-event", "airplay", "plying", "Some Title", quiet=False,
                             expect=None)
        self.assertEqual(result.returncode, 2, "source-event airplay plying: exit %d, stderr %r"
                         % (result.returncode, result.stderr))
        self.one_line(result, "usage")
        self.assertEqual(self.changes("AirPlay"), [])


# -- POST /sources/<name> directly ------------------------------------------------------

class SourcesEndpointTests(BridgeCase):

    def assert_refused(self, name, body, content_type="application/json"):
        status, headers, answer = self.post_source(name, body, content_type)
        what = "POST /sources/%s %r: %d %r" % (name, body, status, answer)
        self.assertEqual(status, 400, what)
        self.assertEqual(headers.get("content-type", "").split(";")[0], "application/json", what)
        self.assertEqual(answer.rstrip(b"\n").count(b"\n"), 0, what)
        error = json.loads(answer.decode("utf-8")).get("error")
        self.assertIsInstance(error, str, what)
        self.assertTrue(error and "\n" not in error, what)
        return error

    def test_bad_bodies_and_names_are_400_with_a_one_line_json_error(self):
        self.start()
        refused = [
            ("airplay", b"not json"),
            ("airplay", b"\xff\xfe{"),
            ("airplay", b""),
            ("airplay", b"[]"),
            ("airplay", b'"playing"'),
            ("airplay", b"null"),
            ("airplay", b'{"state": "bogus"}'),
            ("airplay", b'{"state": "PLAYING"}'),
            ("airplay", b'{"state": 1}'),
            ("airplay", b'{"title": "no state"}'),
            ("airplay", b'{"state": "playing", "title": ["a"]}'),
            ("spotify", b'{"librespot": "playing"}'),
            ("spotify", b'{"librespot": {"PLAYER_EVENT": 1}}'),
            ("spotify", b'{"librespot": {"TRACK_ID": "x"}}'),
            ("Bad%20Name", b'{"state": "playing"}'),
            ("Spotify", b'{"state": "playing"}'),
            ("1airplay", b'{"state": "playing"}'),
            ("a" * 40, b'{"state": "playing"}'),
            ("", b'{"state": "playing"}'),
            ("air%0Aplay", b'{"state": "playing"}'),
        ]
        for name, body in refused:
            with self.subTest(name=name, body=body):
                self.assert_refused(name, body)
        self.assertEqual(self.state()["players"], [], "a refused event made a player")
        self.assertTrue(self.daemon.running())
        # The endpoint still takes a good one afterwards.
        status, _, answer = self.post_source("airplay", b'{"state": "playing", "title": "ok"}')
        self.assertEqual(status, 200, answer)
        self.wait_change("AirPlay", "playing")

    def test_a_title_cannot_forge_a_log_line(self):
        self.start()
        forged = ("Nice song\n2026-01-01T00:00:00.000+00:00 [ERROR] forged line level=ERROR\r"
                  "[WARN] forged too\x1b[2K\u2028[INFO] forged unicode")
        status, _, answer = self.post_source(
            "airplay", json.dumps({"state": "playing", "title": forged}).encode("utf-8"))
        self.assertEqual(status, 200, answer)
        self.bridge("source-event", "airplay", "paused", forged)
        self.librespot("track_changed", dict(TRACK, NAME=forged, ARTISTS="A\n[ERROR] forged",
                                             ALBUM="level=ERROR\n[ERROR] forged"))
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        playing = self.wait_change("AirPlay", "playing")
        paused = self.wait_change("AirPlay", "paused")
        spotify = self.wait_change("Spotify", "playing")
        self.daemon.stop()
        lines = self.daemon.lines()
        self.assertEqual([line for line in lines if FORGED.search(line)], [],
                         "a forged log line:\n" + self.daemon.log())
        for line in lines:
            record = parse_log_line(line)  # ValueError when a title broke the quoting
            self.assertIsNotNone(record, "not a log line: %r" % line)
            self.assertNotEqual(record.level, "ERROR", line)
            self.assertNotIn("level", record.fields, line)
        self.assertEqual(playing["title"], forged)
        self.assertEqual(paused["title"], forged)
        self.assertEqual(spotify["title"], forged)
        self.assertEqual(spotify["album"], "level=ERROR\n[ERROR] forged")


# -- the hooks and the idle watch -----------------------------------------------------

RECORD_HOOK = """#!/bin/sh
printf '%s %s\\n' "$SB_SOURCE" "$SB_EVENT" >>"$1"
"""


class SourceHookCase(E2ECase, BridgeCase):
    """Hooks that append ``$SB_SOURCE $SB_EVENT`` to one file, one run a line."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="sbz-e2e-sources-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "hooks")
        self.hook = " ".join(shlex.quote(word) for word in (
            write_script(self.dir, "record", RECORD_HOOK), self.out))

    def hook_flags(self, *names):
        flags = []
        for name in names:
            flags += ["-" + name, self.hook]
        return flags

    def records(self):
        return read_text(self.out).splitlines()

    def wait_records(self, n, timeout=5):
        wait_for(lambda: len(self.records()) >= n, timeout)
        records = self.records()
        self.assertGreaterEqual(len(records), n, "hook runs %r\nlog:\n%s" % (
            records, self.daemon.log()))
        return records

    def started(self, daemon):
        self.daemon = daemon
        self.url = "http://127.0.0.1:%d" % daemon.port
        return daemon


class SourceHookTests(SourceHookCase):

    def test_on_change_gets_the_source(self):
        self.start(self.hook_flags("on-change"))
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        self.assertEqual(self.wait_records(1), ["spotify play"])
        self.librespot("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "1000"})
        self.assertEqual(self.wait_records(2), ["spotify play", "spotify pause"])
        self.bridge("source-event", "airplay", "playing", "Some Title")
        self.assertEqual(self.wait_records(3)[2], "airplay play")
        self.bridge("source-event", "airplay", "stopped")
        self.assertEqual(self.wait_records(4)[3], "airplay stop")
        self.assertEqual(len(self.records()), 4, self.records())

    def test_idle_waits_for_the_last_source_plex_then_spotify(self):
        grace = 1.0
        args = self.hook_flags("on-active", "on-idle") + ["-idle-after", str(grace)]
        self.started(self.start_plex_and_daemon("sessions_empty.xml", extra_args=args))

        # Plex plays: active.
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.wait_state("playing")
        self.assertEqual(self.wait_records(1), ["plex active"])
        # Spotify plays too: already active, nothing runs.
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        self.wait_change("Spotify", "playing")
        # Plex stops: Spotify still plays, so no idle however long we wait.
        mark = self.daemon.mark()
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        self.wait_state("stopped", start=mark)
        self.assertFalse(wait_for(lambda: self.daemon.count("players idle") or
                                  len(self.records()) > 1, 2.5 * grace),
                         "idle while Spotify plays: %r\n%s" % (self.records(),
                                                               self.daemon.log()))
        self.assertEqual(self.records(), ["plex active"])
        self.assertEqual(self.daemon.count("players active"), 1, self.daemon.log())
        # Spotify stops: idle once, after the grace.
        mark = self.daemon.mark()
        self.librespot("stopped", {"TRACK_ID": TRACK_ID})
        stopped = self.daemon.wait_for_line(change_pattern("Spotify", "stopped"), start=mark)
        idle = self.daemon.wait_for_line("players idle", start=mark, timeout=grace + 5)
        waited = (parse_time(idle) - parse_time(stopped))
        self.assertGreaterEqual(waited, grace - 0.05, "idle %.2fs after the stop" % waited)
        records = self.wait_records(2)
        self.assertEqual(records[0], "plex active")
        self.assertEqual(records[1].split()[-1], "idle", records)
        self.assertFalse(wait_for(lambda: len(self.records()) > 2, 2 * grace),
                         "on-idle ran again: %r" % self.records())
        self.assertEqual(self.daemon.count("players idle"), 1, self.daemon.log())

    def test_spotify_alone_active_then_idle(self):
        grace = 1.0
        self.start(self.hook_flags("on-active", "on-idle") + ["-idle-after", str(grace)])
        self.librespot("track_changed", TRACK)
        self.librespot("playing", {"TRACK_ID": TRACK_ID})
        self.assertEqual(self.wait_records(1), ["spotify active"])
        active = parse_log_line(self.daemon.wait_for_line("players active"))
        self.assertEqual((active.fields["player"], active.fields["machine_id"]),
                         ("Spotify", "spotify"))
        # A pause shorter than the grace changes nothing.
        self.librespot("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "1000"})
        self.librespot("playing", {"TRACK_ID": TRACK_ID, "POSITION_MS": "1000"})
        self.wait_change("Spotify", "playing", 2)
        mark = self.daemon.mark()
        self.librespot("paused", {"TRACK_ID": TRACK_ID, "POSITION_MS": "2000"})
        self.daemon.wait_for_line("players idle", start=mark, timeout=grace + 5)
        records = self.wait_records(2)
        self.assertEqual(records, ["spotify active", "spotify idle"])
        self.assertEqual(self.daemon.count("players idle"), 1)


def parse_time(line):
    """A log line's time as seconds since the epoch."""
    return datetime.datetime.fromisoformat(parse_log_line(line).timestamp).timestamp()


if __name__ == "__main__":
    unittest.main()
