#!/bin/sh
# Tell Home Assistant what the player does: POST each change as JSON to a
# webhook trigger, so an automation can dim the lights when the music starts.
#
#   -on-change /opt/streamerbrainz/examples/hooks/home-assistant.sh
#   (the same script works for -on-idle and -on-active: event is idle/active)
#
# In Home Assistant: an automation with a Webhook trigger (ID as in HA_WEBHOOK_URL,
# method POST) reads {{ trigger.json.event }}, {{ trigger.json.title }}, ...
# Anyone who knows the ID can trigger it: pick a long random one.
# -notify-url http://homeassistant.local:8123/api/webhook/ID posts the same JSON
# without a script; this script is the place to pick events or reshape the body.
# Needs: curl, and python3 to build the JSON (it escapes quotes in titles).

URL=${HA_WEBHOOK_URL:-http://homeassistant.local:8123/api/webhook/streamerbrainz}

# {"event": "play", "state": "playing", "title": "...", "duration_ms": 259560, ...}
python3 -c '
import json, os, sys
body = {key[3:].lower(): value for key, value in os.environ.items() if key.startswith("SB_")}
for key in ("duration_ms", "position_ms"):
    if body.get(key, "").isdigit():
        body[key] = int(body[key])
json.dump(body, sys.stdout)
' | curl --silent --show-error --fail --max-time 5 \
  --header "Content-Type: application/json" --data-binary @- "$URL"
