#!/bin/sh
# get-plex-machine-id.sh: list the players your Plex server is serving now
# (title, product, platform, state, machine identifier, what is playing)
# and print the command line that starts StreamerBrainz for them.
# Start playing something on the player you want first.
#
# Usage:
#   ./examples/get-plex-machine-id.sh plex.home.arpa:32400 TOKEN
#   ./examples/get-plex-machine-id.sh http://plex.home.arpa:32400 /path/to/plex-token
#   PLEX_TOKEN=... ./examples/get-plex-machine-id.sh plex.home.arpa:32400
#
# Argument 1 is host:port or a full http(s):// URL (http:// is added when no
# scheme is given). Argument 2 is the Plex token itself or the path of a file
# holding it (a value with a slash is always taken as a path, and must be a
# readable file); when it is missing, $PLEX_TOKEN is used.
#
# Safer: give a file or PLEX_TOKEN. A token typed as an argument is visible
# in `ps` while this script runs and stays in your shell history. The script
# itself never puts the token on a command line: it writes it to a private
# temporary file (umask 077, removed on exit) and passes the file's path to
# `python3 -m streamerbrainz players -plex-token-file`.
#
# POSIX sh only (works with dash and busybox sh). Set PYTHON to choose the
# interpreter (default python3). Exit status: that of the players command
# (0 ok, 1 Plex error such as a rejected token, 2 bad arguments).

usage() {
    echo "usage: $0 HOST:PORT|URL [TOKEN|TOKEN_FILE]   (or set PLEX_TOKEN)" >&2
    echo "  e.g. $0 plex.home.arpa:32400 /path/to/plex-token" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || usage

server=$1
case $server in
    http://* | https://*) ;;
    *) server="http://$server" ;;
esac

if [ $# -ge 2 ]; then
    token=$2
else
    token=${PLEX_TOKEN:-}
fi
[ -n "$token" ] || usage

# Make the checkout this script lives in importable (repo root = the parent
# of examples/), unless the script was copied away from it; then the
# installed package is used.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 2
root=$(dirname "$here")
if [ -f "$root/streamerbrainz/__init__.py" ]; then
    PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONPATH
fi

tmp=
cleanup() {
    [ -z "$tmp" ] || rm -f "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A Plex token never holds a slash: a value with one is a path, and a path
# that is not a readable file is a mistake to name, not a token to send.
case $token in
    */*)
        if [ ! -e "$token" ]; then
            echo "$0: $token: no such file (give the token, a file holding it, or set PLEX_TOKEN)" >&2
            exit 2
        elif [ ! -f "$token" ]; then
            echo "$0: $token: not a file" >&2
            exit 2
        elif [ ! -r "$token" ]; then
            echo "$0: $token: permission denied (run this with sudo, or as the file's owner)" >&2
            exit 2
        fi
        ;;
esac

if [ -f "$token" ]; then
    # A file holding the token: the daemon reads it as it is.
    token_file=$token
else
    umask 077
    tmp=$(mktemp) || exit 1
    # A here-document, not echo/printf arguments: no process sees the token
    # in its argv.
    cat >"$tmp" <<EOF
$token
EOF
    token_file=$tmp
fi
token=
unset PLEX_TOKEN

rc=0
out=$("${PYTHON:-python3}" -m streamerbrainz players \
    -plex-server-url "$server" -plex-token-file "$token_file") || rc=$?
if [ -n "$tmp" ] && [ -n "$out" ]; then
    # The suggested command names the token file, and ours is about to be
    # removed: show a placeholder instead.
    tmp_re=$(printf '%s\n' "$tmp" | sed 's/[][\\/.*^$]/\\&/g')
    printf '%s\n' "$out" | sed "s/$tmp_re/\/path\/to\/plex-token/g"
    [ "$rc" -ne 0 ] ||
        echo "(/path/to/plex-token: a file holding the token, mode 600)"
elif [ -n "$out" ]; then
    printf '%s\n' "$out"
fi
exit "$rc"
