#!/bin/sh
# Switch an amplifier on and off with a relay on a GPIO line (libgpiod's gpioset):
# on when something plays after the players were idle, off once nothing has
# played for -idle-after seconds. Give the same script to both hooks:
#
#   -on-active /opt/streamerbrainz/examples/hooks/amp-relay.sh
#   -on-idle   /opt/streamerbrainz/examples/hooks/amp-relay.sh
#   -idle-after 600
#
# A line set through /dev/gpiochip* keeps its value only while the process that
# set it runs ("after that is not guaranteed", says gpioset --help). So a gpioset
# stays in the background holding the line on (or off) until the next switch.
# Stopping the service stops it too, and the line returns to its default.
# Works with libgpiod v1 (gpioset CHIP LINE=VALUE) and v2 (gpioset -c CHIP LINE=VALUE).
# Needs: gpioset (apt install gpiod) and read-write access to /dev/gpiochip*
# (on Raspberry Pi OS, the gpio group). Try it by hand: SB_EVENT=active ./amp-relay.sh
# (then let the line go: kill "$(cat /tmp/streamerbrainz-amp-relay.pid)").

CHIP=${AMP_GPIO_CHIP:-gpiochip0}   # gpiodetect lists the chips (a Pi 5 on an older kernel: gpiochip4)
LINE=${AMP_GPIO_LINE:-17}          # line offset on that chip; on a Pi the BCM number (GPIO17: pin 11)
ON=${AMP_GPIO_ON:-1}               # swap ON and OFF for a relay board that switches on a low level
OFF=${AMP_GPIO_OFF:-0}
PIDFILE=${AMP_PIDFILE:-${RUNTIME_DIRECTORY:-/tmp}/streamerbrainz-amp-relay.pid}

case $SB_EVENT in
  active) value=$ON ;;
  idle) value=$OFF ;;
  *) exit 0 ;;  # this script only handles -on-active and -on-idle
esac

# Stop the gpioset that holds the line now (only if it still is that gpioset),
# and wait until it has let go of the line.
if [ -s "$PIDFILE" ]; then
  pid=$(cat "$PIDFILE")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = gpioset ] && kill "$pid" 2>/dev/null; then
    i=0
    while [ "$i" -lt 50 ]; do
      case $(cat "/proc/$pid/stat" 2>/dev/null) in
        "" | *") Z "*) break ;;  # gone (or a zombie): the line is free
      esac
      sleep 0.1
      i=$((i + 1))
    done
  fi
  rm -f "$PIDFILE"
fi

case $(gpioset --version 2>/dev/null) in
  *"(libgpiod) v1."*) set -- gpioset --mode=signal "$CHIP" "$LINE=$value" ;;
  *) set -- gpioset -c "$CHIP" "$LINE=$value" ;;
esac
# In the background, with its output away from StreamerBrainz (which waits for
# a hook's output to end); a gpioset that cannot take the line says why at once.
"$@" </dev/null >/dev/null 2>"$PIDFILE.err" &
echo $! >"$PIDFILE"
sleep 0.2
if [ -s "$PIDFILE.err" ]; then
  cat "$PIDFILE.err" >&2
  exit 1
fi
echo "amplifier relay: $CHIP line $LINE set to $value ($SB_EVENT)"
