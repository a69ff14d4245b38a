"""What StreamerBrainz publishes and where: topics, payloads, discovery configs, the outbox."""

import json
import unittest

from streamerbrainz.mqtt import discovery, payloads, topics
from streamerbrainz.mqtt.outbox import Outbox
from streamerbrainz.mqtt.payloads import Message
from tests.support import model

MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
TOPICS = topics.Topics("streamerbrainz", "pi")


class TopicsTest(unittest.TestCase):

    def test_node_and_client_id_come_from_the_host_name(self):
        self.assertEqual(topics.node_id("Living-Room.home.arpa"), "living-room")
        self.assertEqual(topics.node_id("pi's box"), "pi_s_box")
        self.assertEqual(topics.node_id(""), "streamerbrainz")
        long = topics.client_id(topics.node_id("a-very-long-host-name-indeed"))
        self.assertLessEqual(len(long.encode()), 23)
        self.assertEqual(long, topics.client_id("a-very-long-host-name-indeed"))
        self.assertNotEqual(long, topics.client_id("a-very-long-host-name-other"))

    def test_a_players_topics_and_the_commands_read_back(self):
        self.assertEqual(TOPICS.state(MACHINE_ID),
                         "streamerbrainz/pi/bc97b983-8169-47e3-bbcc-54a12d662546/state")
        self.assertEqual(TOPICS.state("spotify"), "streamerbrainz/pi/spotify/state")
        self.assertEqual(TOPICS.commanded(TOPICS.command(MACHINE_ID)),
                         "bc97b983-8169-47e3-bbcc-54a12d662546")
        for topic in ("streamerbrainz/pi/camilladsp/set", "streamerbrainz/other/x/set",
                      "streamerbrainz/pi/x/state", "streamerbrainz/pi/a/b/set"):
            with self.subTest(topic=topic):
                self.assertIsNone(TOPICS.commanded(topic))
        self.assertEqual(TOPICS.config("sensor", "playing"),
                         "homeassistant/sensor/pi_playing/config")


class PayloadsTest(unittest.TestCase):

    def change(self, **fields):
        return model.change(machine_id=MACHINE_ID, player="Office", **fields)

    def test_the_state_is_retained_and_the_event_is_not(self):
        change = self.change(state="playing", previous_state="paused", position_ms=30496)
        state, event, last = payloads.changed(TOPICS, change)
        self.assertEqual(state, payloads.state(TOPICS, change))
        self.assertEqual((state.qos, state.retain), (1, True))
        document = json.loads(state.payload)
        self.assertEqual(list(document), list(payloads.STATE_FIELDS) + ["since"])
        self.assertEqual((document["state"], document["position_ms"], document["player"]),
                         ("playing", 30496, "Office"))
        self.assertEqual((event.topic, event.qos, event.retain),
                         (TOPICS.event(MACHINE_ID), 0, False))
        self.assertEqual(json.loads(event.payload)["event"], "play")  # a resume is a play
        self.assertEqual((last.topic, last.retain, json.loads(last.payload)["player"]),
                         (TOPICS.last_change, True, "Office"))

    def test_any_playing_and_availability(self):
        self.assertEqual(payloads.any_playing(TOPICS, True),
                         Message("streamerbrainz/pi/any_playing", b"ON", 1, True))
        self.assertEqual(payloads.availability(TOPICS, False).payload, b"offline")


class DiscoveryTest(unittest.TestCase):

    ABOUT = discovery.device("pi", "pi", "1.0")

    def configs(self, **options):
        found = discovery.configs(TOPICS, self.ABOUT, {MACHINE_ID: "Office"}, **options)
        return {topic: json.loads(payload) for topic, payload in found.items()}

    def test_one_device_a_sensor_per_player_playing_and_last_change(self):
        found = self.configs()
        object_id = "bc97b983-8169-47e3-bbcc-54a12d662546"
        self.assertEqual(sorted(found), sorted([
            "homeassistant/sensor/pi_%s/config" % object_id,
            "homeassistant/binary_sensor/pi_playing/config",
            "homeassistant/sensor/pi_last_change/config"]))
        sensor = found["homeassistant/sensor/pi_%s/config" % object_id]
        self.assertEqual((sensor["name"], sensor["state_topic"], sensor["unique_id"]),
                         ("Office", TOPICS.state(MACHINE_ID), "pi_" + object_id))
        self.assertEqual(sensor["json_attributes_topic"], TOPICS.state(MACHINE_ID))
        for config in found.values():
            self.assertEqual(config["device"]["identifiers"], ["streamerbrainz_pi"])
            self.assertEqual(config["availability_topic"], TOPICS.availability)

    def test_camilladsp_and_control_add_their_entities(self):
        found = self.configs(camilladsp=True, controllable={MACHINE_ID}, max_volume=-10.0)
        number = found["homeassistant/number/pi_volume/config"]
        self.assertEqual((number["command_topic"], number["max"], number["min"]),
                         (TOPICS.volume_set, -10.0, discovery.VOLUME_MIN))
        self.assertEqual(found["homeassistant/switch/pi_mute/config"]["command_topic"],
                         TOPICS.mute_set)
        buttons = {config["payload_press"]: config for topic, config in found.items()
                   if "/button/" in topic}
        self.assertEqual(sorted(buttons), sorted(discovery.BUTTONS))
        self.assertEqual(buttons["next"]["command_topic"], TOPICS.command(MACHINE_ID))


class OutboxTest(unittest.TestCase):

    def test_the_newest_retained_message_per_topic_and_events_in_order(self):
        signals = []
        box = Outbox(max_events=10, signal=lambda: signals.append(1))
        box.put(Message("a/state", b"1", 1, True))
        box.put(Message("a/event", b"e1", 0, False))
        box.put(Message("a/state", b"2", 1, True))
        box.put(Message("a/event", b"e2", 0, False))
        taken, dropped = box.take(10)
        self.assertEqual([m.payload for m in taken], [b"2", b"e1", b"e2"])
        self.assertEqual((dropped, len(signals), len(box)), (0, 4, 0))

    def test_past_the_bound_the_oldest_events_go_and_are_counted(self):
        box = Outbox(max_events=3)
        firsts = [box.put(Message("e", b"%d" % n, 0, False)) for n in range(10000)]
        box.put(Message("s", b"newest", 1, True))
        self.assertEqual(firsts.count(True), 1, "the first drop is said once")
        self.assertEqual(len(box), 4)
        taken, dropped = box.take(2)
        self.assertEqual(([m.payload for m in taken], dropped), ([b"newest", b"9997"], 9997))
        self.assertEqual(box.take(10), ([Message("e", b"9998", 0, False),
                                         Message("e", b"9999", 0, False)], 0))
