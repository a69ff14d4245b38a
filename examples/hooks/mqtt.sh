#!/bin/sh
# Publish each change to MQTT as JSON, retained, so whatever subscribes later
# (Home Assistant, Node-RED, a little display) gets the latest state at once.
#
#   -on-change /opt/streamerbrainz/examples/hooks/mqtt.sh
#   (and -on-idle / -on-active with the same script, if you want those too)
#
# Watch it: mosquitto_sub -h localhost -t 'streamerbrainz/#' -v
# Needs: mosquitto_pub (apt install mosquitto-clients), and python3 to build the JSON.

HOST=${MQTT_HOST:-localhost}
PORT=${MQTT_PORT:-1883}
TOPIC=${MQTT_TOPIC:-streamerbrainz/state}

set -- -h "$HOST" -p "$PORT" -t "$TOPIC" -r -q 1
# A broker that wants a login: set MQTT_USER and MQTT_PASSWORD (in the
# daemon's environment file; the password shows in ps while this runs).
if [ -n "${MQTT_USER:-}" ]; then
  set -- "$@" -u "$MQTT_USER" -P "${MQTT_PASSWORD:-}"
fi

# {"event": "play", "state": "playing", "title": "...", "duration_ms": 259560, ...}
json=$(python3 -c '
import json, os, sys
body = {key[3:].lower(): value for key, value in os.environ.items() if key.startswith("SB_")}
for key in ("duration_ms", "position_ms"):
    if body.get(key, "").isdigit():
        body[key] = int(body[key])
json.dump(body, sys.stdout)
') || exit 1
exec mosquitto_pub "$@" -m "$json"
