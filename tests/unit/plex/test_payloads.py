"""Webhook bodies → Trigger, and which events ask for a fetch.

The multipart bodies are built as PMS builds them (plex-protocol.md §1.1):
a boundary of 24 dashes and 22 alphanumerics, a ``payload`` part with
compact JSON, then, on some events, a ``thumb`` part with raw JPEG bytes.
"""

import base64
import functools
import json
import random
import unittest
import urllib.parse

from streamerbrainz.plex import payloads
from streamerbrainz.plex.payloads import PayloadError
from tests.support import webhooks
from tests.support.model import trigger
from streamerbrainz.core.trigger import Trigger

BOUNDARY = "-" * 24 + "G7Eg6j8dMUI03PAbXJmOc2"
MULTIPART = webhooks.multipart_content_type(BOUNDARY)
multipart = functools.partial(webhooks.multipart, boundary=BOUNDARY)
part = webhooks.form_part

PLAYER_UUID = "5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"

PLAY = {
    "event": "media.play",
    "user": True,
    "owner": True,
    "Account": {"id": 1, "thumb": "https://plex.tv/users/abc/avatar", "title": "elan"},
    "Server": {"title": "Office", "uuid": "54664a3d8acc39983675640ec9ce00b70af9cc36"},
    "Player": {"local": True, "publicAddress": "200.200.200.200", "title": "Living Room Pi",
               "uuid": PLAYER_UUID},
    "Metadata": {
        "librarySectionType": "artist", "ratingKey": "6260", "key": "/library/metadata/6260",
        "parentRatingKey": "6259", "grandparentRatingKey": "6258",
        "guid": "plex://track/5d07cdb4403c640290f4b3a1", "librarySectionID": 1,
        "type": "track", "title": "Once in a Lifetime", "grandparentTitle": "Talking Heads",
        "parentTitle": "Once in a Lifetime: The Best Of", "index": 1, "parentIndex": 1,
        "thumb": "/library/metadata/6259/thumb/1715112830", "addedAt": 1715112800,
        "updatedAt": 1715112830,
    },
}

# Bytes a JPEG may well hold: CRLFs, runs of dashes, a line that looks like
# a (different) boundary, blank lines, header-looking text and every byte value.
NASTY_JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\r\n--\r\n"
    b"--" + b"-" * 24 + b"FAKEfakeFAKEfakeFAKE12\r\n"
    b"--" + b"-" * 24 + b"FAKEfakeFAKEfakeFAKE12--\r\n"
    b"\r\n\r\n"
    b"Content-Disposition: form-data; name=\"payload\"\r\n\r\n"
    b"{\"event\": \"media.stop\"}\r\n"
    b"------------------------------------------------------------\r\n"
    + bytes(range(256)) +
    b"\r\n\xff\xd9"
)


def compact(payload):
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def payload_part(payload=PLAY):
    return part("payload", compact(payload))


def thumb_part(data=NASTY_JPEG):
    return part("thumb", data, filename="thumb.jpg", content_type="image/jpeg")


class MultipartTest(unittest.TestCase):

    def assert_play_event(self, event):
        self.assertEqual(event.event, "media.play")
        self.assertEqual(event.state, "playing")
        self.assertEqual(event.machine_id, PLAYER_UUID)
        self.assertEqual(event.player, "Living Room Pi")
        self.assertEqual(event.account, "elan")
        self.assertEqual(event.track.title, "Once in a Lifetime")
        self.assertEqual(event.track.artist, "Talking Heads")
        self.assertEqual(event.track.album, "Once in a Lifetime: The Best Of")
        self.assertEqual(event.track.rating_key, "6260")

    def test_payload_and_thumb_with_nasty_jpeg_bytes(self):
        body = multipart(payload_part(), thumb_part())
        self.assert_play_event(payloads.parse(MULTIPART, body, received_at=12.5))
        self.assertEqual(payloads.parse(MULTIPART, body, received_at=12.5).received_at, 12.5)

    def test_large_random_thumb(self):
        jpeg = b"\xff\xd8" + random.Random(20261124).randbytes(96 * 1024) + b"\xff\xd9"
        body = multipart(payload_part(), thumb_part(jpeg))
        self.assert_play_event(payloads.parse(MULTIPART, body))

    def test_payload_part_alone(self):
        self.assert_play_event(payloads.parse(MULTIPART, multipart(payload_part())))

    def test_payload_part_after_the_thumb(self):
        body = multipart(thumb_part(), payload_part())
        self.assert_play_event(payloads.parse(MULTIPART, body))

    def test_payload_part_without_content_type(self):
        body = multipart(part("payload", compact(PLAY), content_type=None), thumb_part())
        self.assert_play_event(payloads.parse(MULTIPART, body))

    def test_quoted_boundary_parameter(self):
        body = multipart(payload_part(), thumb_part())
        content_type = 'multipart/form-data; boundary="%s"' % BOUNDARY
        self.assert_play_event(payloads.parse(content_type, body))

    def test_non_ascii_metadata(self):
        play = dict(PLAY, Metadata=dict(PLAY["Metadata"], title="Jóga",
                                        grandparentTitle="Björk", parentTitle="Homogenic"))
        event = payloads.parse(MULTIPART, multipart(payload_part(play)))
        self.assertEqual((event.track.title, event.track.artist), ("Jóga", "Björk"))

    def test_missing_payload_part(self):
        body = multipart(thumb_part())
        with self.assertRaises(PayloadError) as caught:
            payloads.parse(MULTIPART, body)
        self.assertIn("payload", str(caught.exception))

    def test_truncated_body_without_closing_boundary(self):
        body = multipart(payload_part(), thumb_part())
        truncated = body[:len(body) - 200]
        with self.assertRaises(PayloadError):
            payloads.parse(MULTIPART, truncated)

    def test_complete_parts_but_no_closing_boundary(self):
        for body in (multipart(payload_part(), close=False),
                     multipart(payload_part(), thumb_part(), close=False)):
            with self.subTest(parts=body.count(b"Content-Disposition")):
                with self.assertRaises(PayloadError) as caught:
                    payloads.parse(MULTIPART, body)
                self.assertIn("truncated", str(caught.exception))

    def test_truncated_inside_the_payload_part(self):
        body = multipart(payload_part(), close=False)
        with self.assertRaises(PayloadError):
            payloads.parse(MULTIPART, body[:len(body) // 2])

    def test_body_not_using_the_announced_boundary(self):
        body = multipart(payload_part(), boundary="x" * 30)
        with self.assertRaises(PayloadError):
            payloads.parse(MULTIPART, body)

    def test_multipart_without_boundary_parameter(self):
        with self.assertRaises(PayloadError):
            payloads.parse("multipart/form-data", multipart(payload_part()))

    def test_payload_part_that_is_not_json(self):
        body = multipart(part("payload", b"event=media.play"))
        with self.assertRaises(PayloadError) as caught:
            payloads.parse(MULTIPART, body)
        self.assertIn("JSON", str(caught.exception))


class OtherBodiesTest(unittest.TestCase):

    def test_urlencoded(self):
        body = ("payload=" + urllib.parse.quote(compact(PLAY).decode())).encode("ascii")
        event = payloads.parse("application/x-www-form-urlencoded", body)
        self.assertEqual(event.event, "media.play")
        self.assertEqual(event.machine_id, PLAYER_UUID)
        self.assertEqual(event.track.title, "Once in a Lifetime")

    def test_urlencoded_without_payload_field(self):
        with self.assertRaises(PayloadError):
            payloads.parse("application/x-www-form-urlencoded", b"event=media.play")

    def test_json(self):
        for content_type in ("application/json", "application/json; charset=utf-8",
                             "Application/JSON"):
            with self.subTest(content_type=content_type):
                event = payloads.parse(content_type, compact(PLAY))
                self.assertEqual(event.event, "media.play")
                self.assertEqual(event.track.rating_key, "6260")

    def test_empty_body_is_a_request_for_a_fresh_look(self):
        for content_type, body in (("", b""), ("application/x-www-form-urlencoded", b""),
                                   ("application/json", b"  \r\n"), (MULTIPART, b"")):
            with self.subTest(content_type=content_type, body=body):
                event = payloads.parse(content_type, body, received_at=3.0)
                self.assertIsInstance(event, Trigger)
                self.assertEqual(event.event, "")
                self.assertEqual(event.machine_id, "")
                self.assertIsNone(event.state)
                self.assertEqual(event.received_at, 3.0)

    def test_json_array_is_refused(self):
        with self.assertRaises(PayloadError) as caught:
            payloads.parse("application/json", b'[{"event": "media.play"}]')
        self.assertIn("object", str(caught.exception))

    def test_not_json_is_refused(self):
        for body in (b"hello", b"{event: media.play}", b'{"event": ', b"\xff\xfe"):
            with self.subTest(body=body):
                with self.assertRaises(PayloadError):
                    payloads.parse("application/json", body)

    def test_deeply_nested_json_is_refused_not_a_crash(self):
        body = b"[" * 100000 + b"]" * 100000
        with self.assertRaises(PayloadError):
            payloads.parse("application/json", body)

    def test_unsupported_content_type(self):
        with self.assertRaises(PayloadError) as caught:
            payloads.parse("text/plain", b"media.play")
        self.assertIn("text/plain", str(caught.exception))

    def test_missing_event(self):
        body = compact({"Player": {"uuid": PLAYER_UUID}})
        with self.assertRaises(PayloadError) as caught:
            payloads.parse("application/json", body)
        self.assertIn("event", str(caught.exception))

    def test_payload_error_is_a_value_error(self):
        self.assertTrue(issubclass(PayloadError, ValueError))


class TolerantFieldsTest(unittest.TestCase):

    def parse(self, payload):
        return payloads.parse("application/json", compact(payload))

    def test_numeric_rating_key(self):
        play = dict(PLAY, Metadata=dict(PLAY["Metadata"], ratingKey=6260))
        self.assertEqual(self.parse(play).track.rating_key, "6260")

    def test_player_missing(self):
        play = {key: value for key, value in PLAY.items() if key != "Player"}
        event = self.parse(play)
        self.assertEqual(event.event, "media.play")
        self.assertEqual(event.machine_id, "")
        self.assertEqual(event.player, "")

    def test_player_and_metadata_of_the_wrong_type(self):
        event = self.parse(dict(PLAY, Player="Living Room", Metadata=None, Account=[1]))
        self.assertEqual(event.event, "media.play")
        self.assertEqual((event.machine_id, event.track.title, event.account), ("", "", ""))

    def test_original_title_is_the_artist(self):
        play = dict(PLAY, Metadata=dict(PLAY["Metadata"], grandparentTitle="Various Artists",
                                        originalTitle="Talking Heads"))
        self.assertEqual(self.parse(play).track.artist, "Talking Heads")

    def test_empty_original_title_falls_back(self):
        play = dict(PLAY, Metadata=dict(PLAY["Metadata"], originalTitle=""))
        self.assertEqual(self.parse(play).track.artist, "Talking Heads")

    def test_webhook_created_carries_only_the_account(self):
        event = self.parse({"event": "webhook.created", "user": True, "owner": True,
                            "Account": {"id": 123456, "title": "elan"}})
        self.assertEqual(event.event, "webhook.created")
        self.assertEqual(event.account, "elan")
        self.assertEqual(event.machine_id, "")

    def test_event_states(self):
        for name, state in (("media.play", "playing"), ("media.resume", "playing"),
                            ("media.pause", "paused"), ("media.stop", "stopped"),
                            ("media.scrobble", None), ("media.rate", None)):
            with self.subTest(event=name):
                self.assertEqual(self.parse(dict(PLAY, event=name)).state, state)


class TriageTest(unittest.TestCase):

    def event(self, name, player=PLAYER_UUID):
        return trigger(event=name, machine_id=player)

    def test_webhook_created_is_acknowledged_without_fetch(self):
        fetch, reason = payloads.triage(self.event("webhook.created", player=""), {PLAYER_UUID})
        self.assertFalse(fetch)
        self.assertTrue(reason)
        self.assertFalse(payloads.triage(self.event("webhook.created", player=""), set())[0])

    def test_non_playback_events_are_dropped(self):
        for name in ("library.new", "library.on.deck", "admin.database.backup",
                     "admin.database.corrupted", "device.new"):
            with self.subTest(event=name):
                fetch, reason = payloads.triage(self.event(name), set())
                self.assertFalse(fetch)
                self.assertTrue(reason)

    def test_foreign_player_is_dropped(self):
        fetch, reason = payloads.triage(self.event("media.play", player="someone-else"),
                                        {PLAYER_UUID})
        self.assertFalse(fetch)
        self.assertIn("not followed", reason)

    def test_followed_player_fetches(self):
        for name in ("media.play", "media.pause", "media.resume", "media.stop"):
            with self.subTest(event=name):
                self.assertEqual(payloads.triage(self.event(name), {PLAYER_UUID, "other"}),
                                 (True, ""))

    def test_follow_all_fetches_for_any_player(self):
        self.assertEqual(payloads.triage(self.event("media.pause", player="anyone"), set()),
                         (True, ""))
        self.assertEqual(payloads.triage(self.event("media.pause", player="anyone"),
                                         frozenset()), (True, ""))

    def test_empty_event_fetches(self):
        self.assertEqual(payloads.triage(trigger(), {PLAYER_UUID}), (True, ""))


class MultipartBoundsTest(unittest.TestCase):
    """The multipart scan does bounded work, whatever the body holds."""

    def test_a_body_of_nothing_but_boundaries_is_refused_after_16_parts(self):
        bomb = b"--XyZ\r\n\r\n" * (8 * 1024 * 1024 // 9)
        with self.assertRaises(PayloadError) as caught:
            payloads.parse("multipart/form-data; boundary=XyZ", bomb)
        self.assertEqual(str(caught.exception), "multipart body has more than 16 parts")

    def test_sixteen_parts_are_still_read(self):
        parts = [part("field%d" % i, b"x") for i in range(15)] + [payload_part()]
        self.assertEqual(payloads.parse(MULTIPART, multipart(*parts)).event, "media.play")
        with self.assertRaises(PayloadError):
            payloads.parse(MULTIPART, multipart(part("extra", b"x"), *parts))

    def test_the_thumb_part_is_never_decoded(self):
        thumb = (b'Content-Disposition: form-data; name="thumb"\r\n'
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + b"!!not base64!!" * 1000)
        body = multipart(thumb, payload_part())
        self.assertEqual(payloads.parse(MULTIPART, body).event, "media.play")

    def test_a_base64_payload_part_is_decoded(self):
        encoded = base64.b64encode(compact(PLAY))
        body = multipart(b'Content-Disposition: form-data; name="payload"\r\n'
                         b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded)
        self.assertEqual(payloads.parse(MULTIPART, body).event, "media.play")

    def test_a_part_head_without_end_is_refused(self):
        body = b"--" + BOUNDARY.encode("ascii") + b"\r\nX-A: " + b"a" * (64 * 1024)
        with self.assertRaises(PayloadError) as caught:
            payloads.parse(MULTIPART, body)
        self.assertIn("part head larger than 8192 bytes", str(caught.exception))

    def test_a_payload_over_256_kib_is_refused_before_json_sees_it(self):
        huge = b'{"event": "media.play", "x": [' + b"0.1," * 70000 + b"0.1]}"
        for content_type, body in ((MULTIPART, multipart(part("payload", huge))),
                                   ("application/json", huge)):
            with self.subTest(content_type=content_type):
                with self.assertRaises(PayloadError) as caught:
                    payloads.parse(content_type, body)
                self.assertIn("larger than 262144 bytes", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
