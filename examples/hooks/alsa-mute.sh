#!/bin/sh
# Mute an ALSA mixer control while the player is paused or stopped and unmute it
# when it plays, so the amplifier does not hiss or hum between albums.
#
#   -on-change /opt/streamerbrainz/examples/hooks/alsa-mute.sh
#
# With several players, or to mute only after a while, use it as
#   -on-idle /opt/streamerbrainz/examples/hooks/alsa-mute.sh
#   -on-active /opt/streamerbrainz/examples/hooks/alsa-mute.sh
# (idle carries the last state, paused or stopped; active carries playing).
# Find the card and a control with a playback switch ("pswitch"):
#   aplay -l; amixer -c 0 scontents
# Needs: amixer (apt install alsa-utils) and access to /dev/snd (the audio group).

CARD=${ALSA_CARD:-0}             # card number or name, e.g. sndrpihifiberry
CONTROL=${ALSA_CONTROL:-Master}  # e.g. Master, PCM, Digital

case $SB_STATE in
  playing) switch=unmute ;;
  paused | stopped) switch=mute ;;
  *) exit 0 ;;  # buffering: leave it as it is
esac
exec amixer -q -c "$CARD" sset "$CONTROL" "$switch"
