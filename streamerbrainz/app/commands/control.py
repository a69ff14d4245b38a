"""``streamerbrainz control ACTION [-url URL] [-player ID]``: the soft transport from a shell.

It asks the running daemon (``POST /control/<action>``) and waits for its
answer: exit 0 when the player did it, 1 with the reason when not (Plexamp
answers OK even to a command it then ignores; the daemon confirms from the
player's state), 2 for a usage error.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from streamerbrainz.core.transport import ACTIONS
from streamerbrainz.lib import opener
from streamerbrainz.sources.bridge import DEFAULT_URL
TIMEOUT = 15.0  # the daemon waits up to 11 s for a fade, the command and its confirmation
MAX_ANSWER = 64 * 1024
USAGE = ("usage: streamerbrainz control play|pause|toggle|next|previous|stop "
         "[-url URL] [-player ID]")


def parse_args(argv, environ):
    """``(action, url, player)``; ValueError for a usage error."""
    url = environ.get("STREAMERBRAINZ_URL") or DEFAULT_URL
    player, action = "", None
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, has_value, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in ("url", "player"):
            if not has_value:
                if not args:
                    raise ValueError("-%s: needs a value" % name)
                value = args.pop(0)
            if name == "url":
                url = value
            else:
                player = value
        elif arg.startswith("-"):
            raise ValueError(USAGE if name in ("h", "help") else
                             "flag provided but not defined: %s (%s)" % (arg, USAGE))
        elif action is None:
            action = arg
        else:
            raise ValueError("unexpected argument %r (%s)" % (arg, USAGE))
    if action not in ACTIONS:
        raise ValueError(USAGE)
    return action, url, player


def main(argv, environ=None):
    environ = os.environ if environ is None else environ
    try:
        action, url, player = parse_args(argv, environ)
    except ValueError as err:
        print("streamerbrainz control: %s" % err, file=sys.stderr)
        return 2
    target = url.rstrip("/") + "/control/" + action
    if player:
        target += "?" + urllib.parse.urlencode({"player": player})
    request = urllib.request.Request(target, data=b"", method="POST",
                                     headers={"Content-Type": "application/json"})
    deadline = opener.Deadline(TIMEOUT)
    name = "the daemon at %s" % url
    try:
        try:
            with opener.deadline_opener(deadline).open(request, timeout=TIMEOUT) as answer:
                data = opener.read_within(answer, MAX_ANSWER, deadline, name)
        except urllib.error.HTTPError as err:  # 403, 404, 503: the reason is in the body
            with err:
                data = opener.read_within(err, MAX_ANSWER, deadline, name)
        except urllib.error.URLError as err:
            raise opener.RequestError("network", "cannot reach %s: %s"
                                      % (name, opener.describe(err.reason))) from None
        except (OSError, ValueError) as err:
            raise opener.RequestError("network", "cannot reach %s: %s"
                                      % (name, opener.describe(err))) from None
    except opener.RequestError as err:
        print("streamerbrainz control: %s" % err, file=sys.stderr)
        return 1
    try:
        result = json.loads((data or b"").decode("utf-8"))
        result = result if isinstance(result, dict) else {}
    except (ValueError, UnicodeDecodeError):
        result = {}
    if result.get("done") is True:
        print("%s: done" % action)
        return 0
    print("%s: not done: %s" % (action, result.get("reason") or "the daemon gave no reason"),
          file=sys.stderr)
    return 1
