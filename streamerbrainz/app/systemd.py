"""``sd_notify`` over ``$NOTIFY_SOCKET``: READY, STOPPING, WATCHDOG, STATUS.

Does nothing when the daemon does not run under systemd. Errors are
swallowed: telling systemd is a courtesy, never a reason to fail.
"""

import os
import socket


class Notifier:
    """Sends ``KEY=value`` datagrams to the socket systemd gave us, if any."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address if address[:1] in ("/", "\0") else ""
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watched = usec.isascii() and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.watchdog_interval = int(usec) / 1e6 / 2 if watched else None

    @property
    def enabled(self):
        return bool(self.address)

    def notify(self, *lines):
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode("utf-8"), self.address)
            return True
        except OSError:
            return False

    def ready(self, status=""):
        return self.notify("READY=1", "STATUS=" + status) if status else self.notify("READY=1")

    def stopping(self):
        return self.notify("STOPPING=1")

    def watchdog(self):
        return self.notify("WATCHDOG=1")
