"""The command line: sub-commands, flags in the Go style, exit codes.

Flags take one or two dashes and ``-flag value`` or ``-flag=value``; a
boolean flag alone means true. Each flag belongs to the sub-commands that
read it (``Flag.commands``): another's is a usage error on the command line
and unread in the environment. Exit status: 0 for success, 1 for a runtime
failure, 2 for a usage or configuration error (one line on stderr).
"""

import errno
import importlib
import os
import sys

from streamerbrainz import __version__
from streamerbrainz.app import bridges, config, settings_file
from streamerbrainz.lib import log

COMMANDS = {
    "run": "run the daemon (the default)",
    "players": "list the players Plex sees now, with their machine identifiers, and exit",
    "status": "show what a running daemon knows of every player (its /state) and exit",
    "camilladsp": "check the CamillaDSP at -camilladsp-url: print its version and faders, "
                  "and exit",
    "history": "print what played (from -state-dir's database) and exit",
    "config": "print the effective settings and where each came from (-check: validate "
              "them) and exit",
}

# The sub-commands other than run: each is a module with main(config) -> exit status.
COMMAND_MODULES = {
    "players": "streamerbrainz.app.commands.players",
    "status": "streamerbrainz.app.commands.status",
    "camilladsp": "streamerbrainz.app.commands.camilladsp",
    "history": "streamerbrainz.app.commands.history",
}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def parse_args(argv):
    """Return ``(command, {flag name: raw value})`` or raise ConfigError."""
    command = "run"
    values = {}
    args = list(argv)
    if args and args[0] in COMMANDS:
        command = args.pop(0)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            if i < len(args):
                raise config.ConfigError("unexpected argument %r (see -help)" % args[i])
            break
        if not arg.startswith("-") or arg == "-":
            raise config.ConfigError("unexpected argument %r (see -help)" % arg)
        name, has_value, value = arg.lstrip("-").partition("=")
        if name == "h":
            name = "help"
        flag = config.FLAGS_BY_NAME.get(name)
        if flag is None:
            raise config.ConfigError("flag provided but not defined: -%s (see -help)" % name)
        if not config.reads(command, flag):
            raise config.ConfigError("-%s: not a flag of %s (it is for %s; see -help)"
                                     % (name, command, " and ".join(flag.commands)))
        if flag.kind == "bool":
            values[name] = value if has_value else True
            continue
        if not has_value:
            if i >= len(args):
                raise config.ConfigError("-%s: needs a value (see -help)" % name)
            value = args[i]
            i += 1
        if flag.kind in ("list", "urls"):
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return command, values


HELP_WIDTH = 79


def usage():
    """The -help text: the commands, then each room's flags under its heading."""
    import textwrap
    lines = [
        "Usage:",
        "  python3 -m streamerbrainz [run] [flags]       run the daemon",
        "  python3 -m streamerbrainz players [flags]     list the players Plex sees now",
        "  python3 -m streamerbrainz status [-url URL]   show a running daemon's state",
        "  python3 -m streamerbrainz camilladsp [flags]  check the CamillaDSP set-up",
        "  python3 -m streamerbrainz history [-since 7d] [-player P] [-json]",
        "                                 what played (or -export listenbrainz)",
        "  python3 -m streamerbrainz config [-check] [flags]",
        "                                 the settings and where each came from",
        "  python3 -m streamerbrainz control ACTION [-url URL] [-player ID]",
        "                                 play, pause, toggle, next, previous or stop",
        "  python3 -m streamerbrainz librespot-event [-url URL]",
        "                                 librespot's --onevent program",
        "  python3 -m streamerbrainz source-event [-url URL] NAME STATE [TITLE]",
        "                                 a source plays, paused or stopped",
        "",
        "Flags take one or two dashes: -flag value or -flag=value. Each is also read",
        "from the environment variable shown, and most from the settings file",
        "(-config) under the section and key shown: the command line wins, then the",
        "environment, then the file. The commands named last take the flag (config",
        "takes run's too); another command refuses it.",
    ]
    for room in config.ROOMS:
        lines += ["", room.TITLE + ":"]
        for flag in room.FLAGS:
            lines.append("  -%s" % " ".join(filter(None, (flag.name, flag.metavar))))
            lines += textwrap.wrap(flag.help, HELP_WIDTH, initial_indent=" " * 6,
                                   subsequent_indent=" " * 6, break_long_words=False,
                                   break_on_hyphens=False)
            commands = commands_of(flag)
            if flag.action:
                lines.append("      (%s)" % commands)
            else:
                key = settings_file.place(flag.name)
                if key:
                    lines.append("      in the settings file: %s" % key)
                lines.append("      (default %s; %s; %s)"
                             % (flag.typed_default or '""', flag.env, commands))
    return "\n".join(lines) + "\n"


def commands_of(flag):
    """The commands that take ``flag``, as -help and the README name them."""
    if set(flag.commands) == set(config.COMMANDS):
        return "every command"
    return ", ".join(flag.commands)


def write_output(text, out=None):
    """Write a command's listing; return EXIT_OK, or EXIT_FAILURE with one line on stderr.

    A full disk or a closed standard output ends in that line, not a
    traceback; a reader that went away (``| head``) ends quietly.
    """
    stdout = out is None
    out = sys.stdout if stdout else out
    try:
        if out is None:
            raise OSError(errno.EBADF, "standard output is closed")
        out.write(text)
        out.flush()
    except OSError as err:
        if stdout:
            _discard_stdout()
        if err.errno != errno.EPIPE:
            print("streamerbrainz: cannot write the output: %s" % (err.strerror or err),
                  file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _discard_stdout():
    """Point standard output at /dev/null, so the flush at exit cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, AttributeError, ValueError):
        pass


def warn_unknown_environment(environ):
    """One WARN for each ``STREAMERBRAINZ_*`` variable that is no flag (a typo is no setting)."""
    logger = log.get_logger("streamerbrainz.app.config")
    for name, closest in config.unknown_environment(environ):
        fields = {"variable": name}
        if closest:
            fields["closest"] = closest
        logger.warn("unknown environment variable ignored", **fields)


def main(argv=None, environ=None):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if argv and argv[0] in bridges.NAMES:
        return bridges.main(argv[0], argv[1:], environ)
    if argv and argv[0] == "control":  # an action to name, not flags alone: its own parser
        from streamerbrainz.app.commands import control
        return control.main(argv[1:], environ)
    try:
        command, cli_values = parse_args(argv)
        values = config.gather(cli_values, environ, command)
        if values["help"]:
            sys.stdout.write(usage())
            return EXIT_OK
        if values["version"]:
            print("streamerbrainz", __version__)
            return EXIT_OK
        read = reader(cli_values, environ, command)
        values, path = read()
        cfg = config.build(values, environ, need_plex=(command == "players"))
    except config.ConfigError as err:
        print("streamerbrainz: %s" % err, file=sys.stderr)
        return EXIT_USAGE
    log.setup(cfg.log_level, environ=environ)
    log.add_secret(cfg.plex_token)
    log.add_secret(cfg.webhooks_secret)
    log.add_secret(cfg.mqtt_password)
    warn_unknown_environment(environ)
    if command == "config":
        from streamerbrainz.app.commands import settings
        return settings.main(cfg, values, path)
    if command in COMMAND_MODULES:
        # Imported only when run: a command's start-up costs only its own modules.
        return importlib.import_module(COMMAND_MODULES[command]).main(cfg)
    if path:
        log.get_logger("streamerbrainz.app.settings").info("settings file read", file=path)
    from streamerbrainz.app import daemon

    def reread():
        """SIGHUP: the settings again, from the same flags and environment and the file now."""
        values, _ = read()
        return values, config.build(values, environ, read_secrets=False)

    return daemon.leave(daemon.run(cfg, environ, values=values, reread=reread))


def reader(cli_values, environ, command):
    """A function that reads the settings file (if any) and returns ``(values, its path)``."""
    flag = config.FLAGS_BY_NAME["config"]
    given = None
    if "config" in cli_values:
        given = cli_values["config"]
    elif flag.env in environ:
        given = environ[flag.env]
    path, required = settings_file.locate(given, environ)

    def read():
        found = settings_file.read(path, required)
        used = path if path and (required or os.path.lexists(path)) else ""
        return config.gather(cli_values, environ, command, found), used

    return read
