"""The MQTT room's flags: the broker, the login, the topics, Home Assistant's discovery."""

import collections
import urllib.parse

from streamerbrainz.lib.flags import ConfigError, Flag

TITLE = "MQTT and Home Assistant"
HELP_ORDER = 70  # where -help shows this room: lower first
SECTION = "mqtt"  # its part of the settings file: [mqtt] url = mqtt://ha@broker

FLAGS = (
    Flag("mqtt-url", "", "the MQTT broker, mqtt://[user@]host[:1883] or mqtts://[user@]host"
         "[:8883] (TLS, checked against the system's certificate authorities); empty: no MQTT",
         metavar="URL"),
    Flag("mqtt-password-file", "", "file holding the MQTT user's password; when empty under "
         "systemd, $CREDENTIALS_DIRECTORY/mqtt-password", metavar="PATH"),
    Flag("mqtt-ca-file", "", "PEM file of the certificate authority that signed an mqtts:// "
         "broker's certificate, used instead of the system's", metavar="PATH"),
    Flag("mqtt-topic-prefix", "streamerbrainz", "the first level of every topic of ours: "
         "<prefix>/<host>/...", metavar="PREFIX"),
    Flag("mqtt-discovery", True, "publish Home Assistant discovery configs, so that the "
         "device and its entities appear by themselves", "bool"),
    Flag("mqtt-discovery-prefix", "homeassistant", "Home Assistant's discovery prefix (its "
         "MQTT integration's setting)", metavar="PREFIX"),
    Flag("mqtt-keepalive", 60, "seconds between keep-alive pings while nothing else is sent "
         "(the broker calls the daemon gone after 1.5 times this)", "int", "SECONDS",
         (5, 3600)),
)

Broker = collections.namedtuple("Broker", "host port tls username")
Broker.__doc__ = "Where -mqtt-url points: ``tls`` for mqtts://, ``username`` or ''."""


def parse_url(url):
    """The ``Broker`` of an mqtt:// or mqtts:// URL; ValueError with what is wrong."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ValueError("%s" % err) from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError("must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError("needs a host, e.g. mqtt://homeassistant.home.arpa")
    if parts.password is not None:
        raise ValueError("a password is never part of the URL: put it alone in a file and "
                         "set -mqtt-password-file")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("takes no path, query or fragment: mqtt://[user@]host[:port]")
    tls = parts.scheme == "mqtts"
    return Broker(parts.hostname, port or (8883 if tls else 1883), tls,
                  urllib.parse.unquote(parts.username or ""))


def check(values):
    """The room's settings, checked; ConfigError with the fix."""
    url = values["mqtt-url"]
    if url:
        try:
            parse_url(url)
        except ValueError as err:
            raise ConfigError("-mqtt-url: %s" % err) from None
    for flag in ("mqtt-topic-prefix", "mqtt-discovery-prefix"):
        prefix = values[flag]
        if not prefix or any(ch in prefix for ch in "+#\0") or prefix.startswith("/") or \
                prefix.endswith("/"):
            raise ConfigError("-%s: %r is no topic prefix (letters, digits, - and _; "
                              "no +, # or leading or trailing /)" % (flag, prefix[:40]))
    return {"mqtt_url": url}
