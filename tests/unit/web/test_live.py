"""Pure parts of the live state and the no-Plex-Pass sources.

``live`` (the /state document, SSE encoding, the event hub),
``notifications`` (SSE lines, PlaySessionStateNotification in both shapes,
triggers), ``plexamp`` (/resources and the timeline poll) and
``status.render`` (the table ``streamerbrainz status`` prints).
"""

import datetime
import json
import logging
import socket
import unittest

from streamerbrainz.lib import sse
from streamerbrainz.web import live
from streamerbrainz.plex import notifications
from streamerbrainz.plex import plexamp
from streamerbrainz.app.commands import status
from streamerbrainz.plex.client import PlexError
from tests.support import model
from streamerbrainz.core.actions import PlayerStateChanged
from streamerbrainz.core.track import Track

PI = "5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"
KITCHEN = "0d6a1c2e-77aa-4bd0-9c1f-3e5b7d9f1a2c"
SERVER_ID = "54664a3d8acc39983675640ec9ce00b70af9cc36"

PLAYER_KEYS = {"machine_id", "player", "product", "state", "title", "artist", "album",
               "duration_ms", "position_ms", "session_key", "rating_key", "since",
               "updated_at", "source"}


def player_state(state="playing", machine_id=PI, position_ms=30496, position_at=100.0, **extra):
    fields = dict(machine_id=machine_id, state=state, title="Once in a Lifetime",
                  artist="Talking Heads", album="Once in a Lifetime: The Best Of",
                  duration_ms=259560, position_ms=position_ms, position_at=position_at,
                  session_key="53", rating_key="6260", player="Office", product="Plexamp",
                  since=1764090000.0, updated_at=1764090005.5)
    fields.update(extra)
    return model.player_state(**fields)


class StateDocumentTest(unittest.TestCase):

    def test_player_json_has_every_field(self):
        doc = live.player_json(player_state(), 100.0)
        self.assertEqual(set(doc), PLAYER_KEYS)
        self.assertEqual(doc["machine_id"], PI)
        self.assertEqual((doc["player"], doc["product"], doc["state"]),
                         ("Office", "Plexamp", "playing"))
        self.assertEqual((doc["title"], doc["artist"], doc["album"]),
                         ("Once in a Lifetime", "Talking Heads", "Once in a Lifetime: The Best Of"))
        self.assertEqual((doc["duration_ms"], doc["position_ms"]), (259560, 30496))
        self.assertEqual((doc["session_key"], doc["rating_key"]), ("53", "6260"))
        json.dumps(doc)  # JSON-ready

    def test_position_moves_while_playing_and_stops_at_the_duration(self):
        state = player_state()
        self.assertEqual(live.player_json(state, 100.0)["position_ms"], 30496)
        self.assertEqual(live.player_json(state, 101.25)["position_ms"], 31746)
        self.assertEqual(live.player_json(state, 100.0 + 10_000)["position_ms"], 259560)

    def test_position_is_frozen_unless_playing(self):
        for state in ("paused", "stopped", "buffering"):
            with self.subTest(state=state):
                doc = live.player_json(player_state(state), 160.0)
                self.assertEqual(doc["position_ms"], 30496)

    def test_since_and_updated_at_are_iso_8601_with_offset(self):
        doc = live.player_json(player_state(), 100.0)
        since = datetime.datetime.fromisoformat(doc["since"])
        self.assertIsNotNone(since.tzinfo)
        self.assertAlmostEqual(since.timestamp(), 1764090000.0, places=3)
        updated = datetime.datetime.fromisoformat(doc["updated_at"])
        self.assertAlmostEqual(updated.timestamp(), 1764090005.5, places=3)
        self.assertRegex(doc["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")

    def test_iso_of_nothing_is_none(self):
        self.assertIsNone(live.iso(0))
        self.assertIsNone(live.iso(None))

    def test_state_document_lists_players_in_order_and_any_playing(self):
        snapshot = {PI: player_state("paused"), KITCHEN: player_state("playing",
                                                                      machine_id=KITCHEN)}
        doc = live.state_document(snapshot, (), 100.0, 1764000000.0)
        self.assertEqual(set(doc), {"players", "any_playing"})
        self.assertEqual([p["machine_id"] for p in doc["players"]], sorted([PI, KITCHEN]))
        self.assertIs(doc["any_playing"], True)
        snapshot[KITCHEN] = player_state("stopped", machine_id=KITCHEN)
        doc = live.state_document(snapshot, (), 100.0, 1764000000.0)
        self.assertIs(doc["any_playing"], False)

    def test_followed_players_never_seen_are_stopped_since_start(self):
        doc = live.state_document({}, (PI, KITCHEN), 100.0, 1764000000.0)
        self.assertEqual(len(doc["players"]), 2)
        for player in doc["players"]:
            self.assertEqual(set(player), PLAYER_KEYS)
            self.assertEqual(player["state"], "stopped")
            self.assertEqual(player["position_ms"], 0)
            self.assertAlmostEqual(datetime.datetime.fromisoformat(player["since"]).timestamp(),
                                   1764000000.0, places=3)
        self.assertIs(doc["any_playing"], False)

    def test_empty_document(self):
        self.assertEqual(live.state_document({}, (), 0.0, 0.0),
                         {"players": [], "any_playing": False})

    def test_action_json(self):
        action = PlayerStateChanged.from_state(player_state("paused"), player_state("playing"), 100.0)
        doc = live.action_json(action)
        self.assertEqual(doc["state"], "paused")
        self.assertEqual(doc["previous_state"], "playing")
        self.assertEqual(doc["machine_id"], PI)
        self.assertEqual(doc["position_ms"], 30496)
        self.assertTrue(PLAYER_KEYS - {"since", "updated_at"} <= set(doc))
        json.dumps(doc)


class SseEncodingTest(unittest.TestCase):

    def test_event_with_id(self):
        data = sse.encode("plex_state_changed", {"state": "playing", "title": "a\nb"}, 7)
        text = data.decode("utf-8")
        self.assertTrue(text.endswith("\n\n"))
        lines = text[:-2].split("\n")
        self.assertEqual(lines[0], "id: 7")
        self.assertEqual(lines[1], "event: plex_state_changed")
        self.assertEqual(len(lines), 3, "a newline inside a value must not split the data")
        self.assertEqual(json.loads(lines[2][len("data: "):]),
                         {"state": "playing", "title": "a\nb"})

    def test_round_trip_through_the_parser(self):
        documents = [{"players": [], "any_playing": False}, {"x": "\u00e9\u2028"}]
        stream = b"retry: 3000\n\n" + sse.encode("state", documents[0]) + b": heartbeat\n\n" \
            + sse.encode("plex_state_changed", documents[1], 2)
        events = list(notifications.sse_events(stream.splitlines(keepends=True)))
        self.assertEqual([e for e, _ in events], ["state", "plex_state_changed"])
        self.assertEqual([json.loads(d) for _, d in events], documents)


class EventHubTest(unittest.TestCase):

    def pair(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        return ours, theirs

    def test_at_most_sixteen_subscribers(self):
        hub = live.EventHub()
        subscribers = [hub.subscribe(self.pair()[0]) for _ in range(16)]
        self.assertNotIn(None, subscribers)
        self.assertIsNone(hub.subscribe(self.pair()[0]))
        hub.unsubscribe(subscribers[0])
        self.assertIsNotNone(hub.subscribe(self.pair()[0]))

    def test_publish_numbers_events_and_reaches_every_subscriber(self):
        hub = live.EventHub()
        first, second = hub.subscribe(self.pair()[0]), hub.subscribe(self.pair()[0])
        hub.publish("plex_state_changed", {"n": 1})
        hub.publish("plex_state_changed", {"n": 2})
        for subscriber in (first, second):
            one, two = subscriber.next(0.1), subscriber.next(0.1)
            self.assertTrue(one.startswith(b"id: 1\nevent: plex_state_changed\n"), one)
            self.assertTrue(two.startswith(b"id: 2\n"), two)

    def test_quiet_subscriber_gets_a_heartbeat(self):
        hub = live.EventHub()
        subscriber = hub.subscribe(self.pair()[0])
        self.assertEqual(subscriber.next(0.01), b"")

    def test_subscriber_that_does_not_keep_up_is_dropped_and_cut(self):
        hub = live.EventHub(backlog=4)
        ours, theirs = self.pair()
        slow = hub.subscribe(ours)
        fast = hub.subscribe(self.pair()[0])
        with self.assertLogs("streamerbrainz.web.live", logging.WARNING) as logs:
            for n in range(6):
                hub.publish("plex_state_changed", {"n": n})
                fast.next(0.1)
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertIn("events subscriber dropped", logs.output[0])
        # What it had queued is still there; writing it to the shut socket ends the stream.
        drained = [slow.next(0.01) for _ in range(4)]
        self.assertTrue(all(item.startswith(b"id: ") for item in drained), drained)
        theirs.settimeout(1)
        self.assertEqual(theirs.recv(10), b"", "the dropped subscriber's socket is shut down")
        # Its slot is free again and the others go on.
        hub.publish("plex_state_changed", {"n": 6})
        self.assertTrue(fast.next(0.1).startswith(b"id: 7\n"))
        for _ in range(15):
            self.assertIsNotNone(hub.subscribe(self.pair()[0]))

    def test_close_cuts_everyone_and_refuses_new_subscribers(self):
        hub = live.EventHub()
        ours, theirs = self.pair()
        subscriber = hub.subscribe(ours)
        hub.close()
        self.assertIsNone(subscriber.next(0.1))
        theirs.settimeout(1)
        self.assertEqual(theirs.recv(10), b"")
        self.assertIsNone(hub.subscribe(self.pair()[0]))


class SseParserTest(unittest.TestCase):

    def events(self, text):
        return list(notifications.sse_events(text.encode("utf-8").splitlines(keepends=True)))

    def test_events_data_comments_and_pings(self):
        text = (": welcome\n"
                "event: ping\ndata: {}\n\n"
                "event: playing\ndata: {\"a\": 1}\n\n"
                "data: first\ndata:second\n\n")
        self.assertEqual(self.events(text), [("ping", "{}"), ("playing", '{"a": 1}'),
                                             ("message", "first\nsecond")])

    def test_crlf_lines_and_str_input(self):
        lines = ["event: playing\r\n", "data: x\r\n", "\r\n"]
        self.assertEqual(list(notifications.sse_events(lines)), [("playing", "x")])

    def test_event_without_data_and_unfinished_event_are_not_dispatched(self):
        self.assertEqual(self.events("event: playing\n\nevent: playing\ndata: x\n"), [])

    def test_unknown_fields_and_invalid_utf8_are_harmless(self):
        lines = [b"id: 4\n", b"retry: 10\n", b"event: playing\n", b"data: \xff\xfe\n", b"\n"]
        [(event, data)] = list(notifications.sse_events(lines))
        self.assertEqual(event, "playing")
        self.assertIsInstance(data, str)


NOTIFICATION = {"sessionKey": "53", "clientIdentifier": PI, "guid": "", "ratingKey": "6260",
                "url": "", "key": "/library/metadata/6260", "viewOffset": 30496,
                "playQueueItemID": 7021, "playQueueID": 212, "state": "paused"}


class PlayNotificationsTest(unittest.TestCase):

    def test_bare_object(self):
        data = json.dumps({"PlaySessionStateNotification": NOTIFICATION})
        self.assertEqual(notifications.play_notifications(data), [NOTIFICATION])

    def test_notification_container_with_a_list(self):
        other = dict(NOTIFICATION, clientIdentifier=KITCHEN, state="playing")
        data = json.dumps({"NotificationContainer": {
            "type": "playing", "size": 2, "PlaySessionStateNotification": [NOTIFICATION, other]}})
        self.assertEqual(notifications.play_notifications(data), [NOTIFICATION, other])

    def test_container_with_a_single_object_and_a_bare_list(self):
        data = json.dumps({"NotificationContainer": {"type": "playing",
                                                     "PlaySessionStateNotification": NOTIFICATION}})
        self.assertEqual(notifications.play_notifications(data), [NOTIFICATION])
        data = json.dumps({"PlaySessionStateNotification": [NOTIFICATION, 3, "x", None]})
        self.assertEqual(notifications.play_notifications(data), [NOTIFICATION])

    def test_anything_else_is_an_empty_list(self):
        for data in ("", "{}", "[]", "null", "42", "not json", '{"NotificationContainer": []}',
                     '{"NotificationContainer": {"type": "timeline", "TimelineEntry": [{}]}}',
                     '{"PlaySessionStateNotification": "x"}',
                     '{"PlaySessionStateNotification": 7}', '\ud800'):
            with self.subTest(data=data):
                self.assertEqual(notifications.play_notifications(data), [])

    def test_deeply_nested_json_is_an_empty_list_not_a_crash(self):
        for data in ("[" * 100000, '{"a":' * 100000, '{"PlaySessionStateNotification": '
                     + "[" * 100000):
            with self.subTest(data=data[:30]):
                self.assertEqual(notifications.play_notifications(data), [])

    def test_huge_numbers_do_not_crash(self):
        data = '{"PlaySessionStateNotification": {"clientIdentifier": "x", "viewOffset": %s}}'
        for number in ("1" * 5000, "1e999", "-1e999", "Infinity", "NaN"):
            with self.subTest(number=number[:10]):
                self.assertIsInstance(notifications.play_notifications(data % number), list)


class ToTriggerTest(unittest.TestCase):

    def test_fields(self):
        trigger = notifications.to_trigger(NOTIFICATION, 12.5)
        self.assertEqual(trigger.machine_id, PI)
        self.assertEqual(trigger.track.rating_key, "6260")
        self.assertEqual(trigger.event, "paused")
        self.assertEqual(trigger.state, "paused")
        self.assertEqual(trigger.position_ms, 30496)
        self.assertTrue(trigger.position_is_fresh)
        self.assertEqual(trigger.received_at, 12.5)
        self.assertEqual(trigger.source, "notifications")

    def test_states_that_decide_and_those_that_leave_it_to_the_session(self):
        for state, decided in (("playing", "playing"), ("paused", "paused"),
                               ("stopped", "stopped"), ("buffering", None), ("error", None),
                               ("", None), (None, None)):
            with self.subTest(state=state):
                trigger = notifications.to_trigger(dict(NOTIFICATION, state=state), 0.0)
                self.assertEqual(trigger.state, decided)

    def test_no_client_identifier_is_no_trigger(self):
        for value in (None, "", 0):
            with self.subTest(value=value):
                self.assertIsNone(notifications.to_trigger(
                    dict(NOTIFICATION, clientIdentifier=value), 0.0))
        without = {k: v for k, v in NOTIFICATION.items() if k != "clientIdentifier"}
        self.assertIsNone(notifications.to_trigger(without, 0.0))

    def test_view_offset_of_any_type(self):
        for value, expected in (("41000", 41000), (41000.9, 41000), (None, -1), ("x", -1),
                                ([], -1), ({}, -1), (True, 1)):
            with self.subTest(value=value):
                trigger = notifications.to_trigger(dict(NOTIFICATION, viewOffset=value), 0.0)
                self.assertEqual(trigger.position_ms, expected)
        without = {k: v for k, v in NOTIFICATION.items() if k != "viewOffset"}
        self.assertEqual(notifications.to_trigger(without, 0.0).position_ms, -1)

    def test_infinite_or_nan_view_offset_is_unknown_not_a_crash(self):
        for value in (float("inf"), float("-inf"), float("nan")):
            with self.subTest(value=value):
                trigger = notifications.to_trigger(dict(NOTIFICATION, viewOffset=value), 0.0)
                self.assertEqual(trigger.position_ms, -1)

    def test_numbers_and_odd_types_become_strings(self):
        trigger = notifications.to_trigger(dict(NOTIFICATION, clientIdentifier=12345,
                                                ratingKey=6260, state=["x"]), 0.0)
        self.assertEqual(trigger.machine_id, "12345")
        self.assertEqual(trigger.track.rating_key, "6260")
        self.assertIsNone(trigger.state)


RESOURCES = (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1">'
             b'<Player title="Pi" machineIdentifier="PLAYER-UUID" product="Plexamp" '
             b'deviceClass="speaker" platform="Linux" protocol="plex" protocolVersion="1" '
             b'protocolCapabilities="timeline,playback,playqueues,playqueues-creation" '
             b'version="4.11.2"/></MediaContainer>')

TIMELINE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer commandID="7">'
            b'<Timeline type="video" state="stopped" time="0"/>'
            b'<Timeline type="music" state="playing" time="12345" duration="200000" '
            b'ratingKey="42" key="/library/metadata/42" playQueueID="212" '
            b'machineIdentifier="' + SERVER_ID.encode() + b'" address="1-2-3-4.abc.plex.direct" '
            b'port="32400" protocol="https" volume="80" shuffle="0" repeat="0">'
            b'<Track title="Heroes" grandparentTitle="David Bowie" parentTitle="&quot;Heroes&quot;"'
            b' ratingKey="42" duration="200100"/></Timeline>'
            b'<Timeline type="photo" state="stopped" time="0"/></MediaContainer>')


class PlexampParseTest(unittest.TestCase):

    def test_resources(self):
        self.assertEqual(plexamp.parse_resources(RESOURCES), ("PLAYER-UUID", "Pi", "Plexamp"))

    def test_resources_root_player_and_missing_attributes(self):
        self.assertEqual(plexamp.parse_resources(b'<Player machineIdentifier="X"/>'),
                         ("X", "", ""))

    def test_resources_that_name_no_player(self):
        for data in (b'<MediaContainer size="0"/>', b'<MediaContainer><Player title="Pi"/>'
                     b'</MediaContainer>', b"OK", b"", b"<MediaContainer>",
                     b'<!DOCTYPE x [<!ENTITY a "b">]><Player machineIdentifier="&a;"/>'):
            with self.subTest(data=data):
                with self.assertRaises(PlexError) as caught:
                    plexamp.parse_resources(data)
                self.assertEqual(caught.exception.kind, "malformed")

    def test_timeline_picks_music_and_its_track(self):
        timeline = plexamp.parse_timeline(TIMELINE)
        self.assertEqual(timeline, plexamp.Timeline(
            state="playing", position_ms=12345, track=Track(
                duration_ms=200000, rating_key="42", title="Heroes", artist="David Bowie",
                album='"Heroes"', media_type="track")))

    def test_timeline_stopped_after_a_stop(self):
        data = (b'<MediaContainer commandID="8"><Timeline type="music" state="stopped" time="0"/>'
                b'<Timeline type="video" state="stopped"/></MediaContainer>')
        self.assertEqual(plexamp.parse_timeline(data),
                         plexamp.Timeline(state="stopped", position_ms=0))

    def test_timeline_paused_keeps_the_track(self):
        data = TIMELINE.replace(b'state="playing"', b'state="paused"')
        timeline = plexamp.parse_timeline(data)
        self.assertEqual((timeline.state, timeline.track.rating_key, timeline.track.title),
                         ("paused", "42", "Heroes"))

    def test_timeline_without_music_is_stopped(self):
        data = b'<MediaContainer><Timeline type="video" state="playing" time="5"/></MediaContainer>'
        self.assertEqual(plexamp.parse_timeline(data), plexamp.Timeline())
        self.assertEqual(plexamp.parse_timeline(b"<MediaContainer/>").state, "stopped")

    def test_timeline_fallbacks(self):
        data = (b'<MediaContainer><Timeline type="music" state="" time="abc">'
                b'<Track title="T" originalTitle="Artist" grandparentTitle="Album Artist" '
                b'ratingKey="9" duration="1234.0"/></Timeline></MediaContainer>')
        timeline = plexamp.parse_timeline(data)
        self.assertEqual(timeline.state, "stopped")
        self.assertEqual(timeline.position_ms, -1)
        self.assertEqual(timeline.track.duration_ms, 1234)
        self.assertEqual(timeline.track.rating_key, "9")
        self.assertEqual(timeline.track.artist, "Artist", "originalTitle wins, as in sessions")

    def test_huge_numbers(self):
        data = (b'<MediaContainer><Timeline type="music" state="playing" time="1e999" '
                b'duration="' + b"9" * 5000 + b'"/></MediaContainer>')
        timeline = plexamp.parse_timeline(data)
        self.assertEqual(timeline.state, "playing")
        self.assertIsInstance(timeline.position_ms, int)
        self.assertIsInstance(timeline.track.duration_ms, int)

    def test_not_a_timeline(self):
        for data in (b"", b"OK", b"<MediaContainer", b"\xff\xfe\x00<",
                     b'<!DOCTYPE MediaContainer [<!ENTITY a "x">]><MediaContainer/>',
                     b'<?xml version="1.0"?>\n<!DOCTYPE MediaContainer SYSTEM "http://x/">'
                     b'<MediaContainer/>'):
            with self.subTest(data=data):
                with self.assertRaises(PlexError) as caught:
                    plexamp.parse_timeline(data)
                self.assertEqual(caught.exception.kind, "malformed")

    def test_unknown_or_multibyte_encoding_is_a_plex_error(self):
        for encoding in (b"bogus", b"shift_jis", b"euc-jp", b"big5"):
            data = (b'<?xml version="1.0" encoding="' + encoding + b'"?>'
                    b'<MediaContainer><Timeline type="music" state="playing"/></MediaContainer>')
            with self.subTest(encoding=encoding):
                try:
                    result = plexamp.parse_timeline(data)
                except PlexError:
                    continue
                except Exception as err:  # noqa: BLE001 - the point of the test
                    self.fail("parse_timeline raised %s: %s, not PlexError"
                              % (type(err).__name__, err))
                self.assertIsInstance(result, plexamp.Timeline)


class StatusRenderTest(unittest.TestCase):

    def document(self, *players, any_playing=None):
        players = [live.player_json(p, 100.0) for p in players]
        if any_playing is None:
            any_playing = any(p["state"] == "playing" for p in players)
        return {"players": players, "any_playing": any_playing}

    def test_no_players(self):
        self.assertEqual(status.render({"players": [], "any_playing": False}),
                         "No players known yet.\n")

    def test_table_with_one_playing_player(self):
        text = status.render(self.document(player_state()))
        lines = text.splitlines()
        self.assertEqual(lines[0].split(), ["PLAYER", "STATE", "POSITION", "TRACK", "SINCE",
                                            "MACHINE", "IDENTIFIER"])
        row = lines[1]
        for cell in ("Office", "playing", "0:30 / 4:19", "Talking Heads - Once in a Lifetime",
                     PI):
            self.assertIn(cell, row)
        since = datetime.datetime.fromtimestamp(1764090000.0).astimezone()
        self.assertIn(since.strftime("%Y-%m-%d %H:%M:%S"), row)
        self.assertEqual(lines[-1], "Any player playing: yes")
        self.assertEqual(lines[-2], "")
        self.assertTrue(text.endswith("\n"))

    def test_columns_line_up(self):
        text = status.render(self.document(player_state(), player_state(
            "paused", machine_id=KITCHEN, player="Kitchen speaker", title="x")))
        header, first, second = text.splitlines()[:3]
        for column in ("STATE", "POSITION", "TRACK", "SINCE", "MACHINE IDENTIFIER"):
            offset = header.index(column)
            self.assertEqual(first[offset - 1], " ", (column, first))
            self.assertEqual(second[offset - 1], " ", (column, second))
        self.assertIn("Any player playing: yes", text)

    def test_nothing_playing(self):
        text = status.render(self.document(player_state("paused")))
        self.assertTrue(text.endswith("Any player playing: no\n"), text)

    def test_hours_and_missing_fields(self):
        self.assertEqual(status.clock(3723000), "1:02:03")
        self.assertEqual(status.clock(None), "0:00")
        self.assertEqual(status.clock(-5), "0:00")
        text = status.render({"players": [{}], "any_playing": False})
        row = text.splitlines()[1].split()
        self.assertEqual(row, ["-", "-", "0:00", "-", "-", "-"])

    def test_a_hostile_title_stays_on_its_row(self):
        hostile = player_state(title="x\n\nAny player playing: yes\x1b[2J\r", artist="a\tb")
        text = status.render(self.document(player_state("paused", machine_id=KITCHEN),
                                           hostile, any_playing=False))
        lines = text.splitlines()
        self.assertEqual(len(lines), 5, text)
        self.assertEqual(lines[-1], "Any player playing: no")
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\r", text)


if __name__ == "__main__":
    unittest.main()
