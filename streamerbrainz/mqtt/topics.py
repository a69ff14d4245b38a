"""Where StreamerBrainz publishes and listens: the node, the client id and every topic.

``<prefix>/<node>/...`` holds the daemon's own topics (the node is this
host's name made topic-safe), ``<discovery>/<component>/<node>_<object>/
config`` Home Assistant's discovery configs. A player's topic part is
its machine id made topic-safe (``bc97b983_8169_...``), or a source's
name (``spotify``): stable across restarts and renames.
"""

import hashlib
import re

DEFAULT_NODE = "streamerbrainz"
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def safe(name, default=""):
    """``name`` as one topic level Home Assistant also takes as an id part: [a-z0-9_-]."""
    return _UNSAFE.sub("_", name.lower()).strip("_")[:64] or default


def node_id(hostname):
    """This daemon's node: its host name up to the first dot, made safe."""
    return safe(hostname.split(".")[0], DEFAULT_NODE)


def client_id(node):
    """A stable client id of at most 23 bytes (what every MQTT 3.1.1 broker must take)."""
    digest = hashlib.sha1(node.encode("utf-8")).hexdigest()[:6]
    return "sbz-%s-%s" % (node[:12], digest)


class Topics:
    """The topic names of one daemon: ``prefix`` (-mqtt-topic-prefix), ``node``,
    ``discovery`` (Home Assistant's discovery prefix)."""

    def __init__(self, prefix, node, discovery="homeassistant"):
        self.base = "%s/%s" % (prefix, node)
        self.node = node
        self.discovery = discovery
        self.availability = self.base + "/availability"
        self.any_playing = self.base + "/any_playing"
        self.last_change = self.base + "/last_change"
        self.entities = self.base + "/entities"  # the discovery configs published, retained
        self.camilladsp = self.base + "/camilladsp/state"
        self.volume_set = self.base + "/camilladsp/volume/set"
        self.mute_set = self.base + "/camilladsp/mute/set"
        self.player_set = self.base + "/+/set"

    def player(self, machine_id):
        return "%s/%s" % (self.base, safe(machine_id, "player"))

    def state(self, machine_id):
        return self.player(machine_id) + "/state"

    def event(self, machine_id):
        return self.player(machine_id) + "/event"

    def command(self, machine_id):
        return self.player(machine_id) + "/set"

    def config(self, component, object_id):
        return "%s/%s/%s_%s/config" % (self.discovery, component, self.node, object_id)

    def commanded(self, topic):
        """The player part of a ``<base>/<player>/set`` topic, or None."""
        head, _, player = topic[:-len("/set")].rpartition("/")
        if not topic.endswith("/set") or head != self.base or player == "camilladsp":
            return None
        return player
