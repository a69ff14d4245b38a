"""Home Assistant's MQTT discovery: the configs that make StreamerBrainz one device.

``configs`` returns ``{config topic: payload}`` for everything the daemon
offers now: a sensor per player (its state, the track as attributes), a
binary sensor "playing", a timestamp sensor for the last change, with
CamillaDSP a number for the volume and a switch for mute, and for each
Plexamp the daemon can control a button per action. All are retained;
a config that is no longer offered gets an empty retained payload, which
removes the entity. Every entity shows unavailable once the daemon's
last will says ``offline``.
"""

import json

from streamerbrainz.mqtt import payloads
from streamerbrainz.mqtt.topics import safe

BUTTONS = ("play", "pause", "next", "previous")
VOLUME_MIN, VOLUME_MAX = -100.0, 0.0


def device(node, hostname, version):
    return {"identifiers": ["streamerbrainz_" + node], "name": "StreamerBrainz " + hostname,
            "manufacturer": "StreamerBrainz", "model": "StreamerBrainz daemon",
            "sw_version": version}


def configs(topics, about, players, camilladsp=False, controllable=(), max_volume=None):
    """``{topic: payload bytes}``: ``players`` maps machine id to name, ``about`` is
    ``device(...)``; ``controllable`` the machine ids with buttons."""
    found = {}

    def add(component, object_id, **config):
        config.update(unique_id="%s_%s" % (topics.node, object_id), device=about,
                      availability_topic=topics.availability,
                      payload_available=payloads.ONLINE.decode(),
                      payload_not_available=payloads.OFFLINE.decode())
        found[topics.config(component, object_id)] = json.dumps(
            config, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")

    for machine_id, name in sorted(players.items()):
        object_id = safe(machine_id, "player")
        add("sensor", object_id, name=name or machine_id, icon="mdi:music",
            state_topic=topics.state(machine_id), value_template="{{ value_json.state }}",
            json_attributes_topic=topics.state(machine_id))
        if machine_id in controllable:
            for action in BUTTONS:
                add("button", "%s_%s" % (object_id, action), name="%s %s" % (name, action),
                    icon="mdi:%s" % {"play": "play", "pause": "pause", "next": "skip-next",
                                     "previous": "skip-previous"}[action],
                    command_topic=topics.command(machine_id), payload_press=action)
    add("binary_sensor", "playing", name="Playing", icon="mdi:speaker",
        state_topic=topics.any_playing, payload_on="ON", payload_off="OFF")
    add("sensor", "last_change", name="Last change", device_class="timestamp",
        state_topic=topics.last_change, value_template="{{ value_json.at }}",
        json_attributes_topic=topics.last_change)
    if camilladsp:
        top = VOLUME_MAX if max_volume is None else min(VOLUME_MAX, max_volume)
        add("number", "volume", name="Volume", icon="mdi:volume-high",
            command_topic=topics.volume_set, state_topic=topics.camilladsp,
            value_template="{{ value_json.volume_db }}", min=VOLUME_MIN, max=top, step=0.5,
            unit_of_measurement="dB", mode="slider")
        add("switch", "mute", name="Mute", icon="mdi:volume-off",
            command_topic=topics.mute_set, state_topic=topics.camilladsp,
            value_template="{{ 'ON' if value_json.mute else 'OFF' }}",
            payload_on="ON", payload_off="OFF", state_on="ON", state_off="OFF")
    return found
