"""The CamillaDSP room's flags: where it is, which fader, and the volume policy."""

from streamerbrainz.lib.flags import ConfigError, Flag, parse_number

TITLE = "CamillaDSP volume"
HELP_ORDER = 35  # where -help shows this room: lower first
SECTION = "camilladsp"  # its part of the settings file: [camilladsp] url = ...

FADERS = ("main", "aux1", "aux2", "aux3", "aux4")

FLAGS = (
    Flag("camilladsp-url", "", "CamillaDSP's websocket, e.g. ws://127.0.0.1:1234 (its -p port); "
         "empty: StreamerBrainz does not touch the volume", metavar="URL",
         commands=("run", "camilladsp")),
    Flag("camilladsp-fader", "main", "the fader to drive: main, or aux1 to aux4 bound to a "
         "Volume filter (then the user's Main volume is never touched)", metavar="FADER",
         commands=("run", "camilladsp")),
    Flag("camilladsp-pause", "off", "at every pause or stop of a local player: mute, a level "
         "in dB (e.g. -40), or off", metavar="LEVEL", live=True),
    Flag("camilladsp-idle", "off", "once nothing has played for -idle-after seconds: mute, a "
         "level in dB, or off", metavar="LEVEL", live=True),
    Flag("camilladsp-max-volume", "", "the highest volume in dB a restore or a play may leave "
         "(empty: no cap)", metavar="DB", live=True),
    Flag("camilladsp-fade-in-ms", 1500, "milliseconds to fade the volume back in after a mute "
         "or a lowered level", "int", "MS", (0, 60000), live=True),
    Flag("camilladsp-source-fader", (), "SOURCE=FADER: the Aux fader a source plays through "
         "(spotify=aux2), muted when it cannot yield to a source that starts and unmuted when "
         "it starts again; repeat or comma-separate", "list", "SOURCE=FADER"),
    Flag("camilladsp-source-volume", (), "SOURCE=DB: an offset to the volume a restore gives "
         "back while that source plays (spotify=-3; plex is Plexamp's); the cap still holds; "
         "repeat or comma-separate", "list", "SOURCE=DB", live=True),
    Flag("camilladsp-fade-out-ms", 1000, "milliseconds to fade the volume out before a soft "
         "pause or stop (POST /control, a source that yields) mutes it", "int", "MS",
         (0, 10000), live=True),
)


def check(values):
    """The room's settings from the gathered ``values``, parsed; ConfigError with the fix."""
    from streamerbrainz.camilladsp.policy import parse_level

    url = values["camilladsp-url"]
    if url:
        from streamerbrainz.lib.websocket import parse_url
        try:
            parse_url(url)
        except ValueError as err:
            raise ConfigError("-camilladsp-url: %s" % err) from None
        if not _has_port(url):
            raise ConfigError("-camilladsp-url: needs the port CamillaDSP listens on (its -p), "
                              "e.g. ws://127.0.0.1:1234")
    fader = values["camilladsp-fader"].lower()
    if fader not in FADERS:
        raise ConfigError("-camilladsp-fader: %r is not one of %s"
                          % (values["camilladsp-fader"], ", ".join(FADERS)))
    settings = {"camilladsp_url": url, "camilladsp_fader": fader}
    for flag in ("camilladsp-pause", "camilladsp-idle"):
        try:
            settings[flag.replace("-", "_")] = parse_level(values[flag], flag)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    settings["camilladsp_source_fader"] = source_faders(values["camilladsp-source-fader"],
                                                        fader)
    settings["camilladsp_source_volume"] = source_volumes(values["camilladsp-source-volume"])
    cap = values["camilladsp-max-volume"]
    settings["camilladsp_max_volume"] = (
        parse_number("camilladsp-max-volume", cap, -150.0, 50.0) if cap else None)
    return settings


def _has_port(url):
    host = url.split("://", 1)[1].split("/", 1)[0]
    return ":" in host.rpartition("]")[2]


def source_faders(items, fader):
    """``((source, fader), ...)`` from ``spotify=aux2`` items; ConfigError with the fix."""
    found = {}
    for item in items:
        source, _, name = item.partition("=")
        source, name = source.strip().lower(), name.strip().lower()
        if not source or name not in FADERS[1:]:
            raise ConfigError("-camilladsp-source-fader: %r is not SOURCE=aux1..aux4 "
                              "(e.g. spotify=aux2)" % item)
        if name == fader:
            raise ConfigError("-camilladsp-source-fader: %s is -camilladsp-fader already; give "
                              "%s a fader of its own" % (name, source))
        if name in found.values() and found.get(source) != name:
            raise ConfigError("-camilladsp-source-fader: %s is given to two sources" % name)
        found[source] = name
    return tuple(sorted(found.items()))


def source_volumes(items):
    """``((source, dB), ...)`` from ``spotify=-3`` items; ConfigError with the fix."""
    found = {}
    for item in items:
        source, _, text = item.partition("=")
        source = source.strip().lower()
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not source or not -30.0 <= value <= 30.0:
            raise ConfigError("-camilladsp-source-volume: %r is not SOURCE=DB with DB from -30 "
                              "to 30 (e.g. spotify=-3)" % item)
        found[source] = value
    return tuple(sorted(found.items()))
