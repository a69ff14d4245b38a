"""sd_notify over $NOTIFY_SOCKET, and the watchdog interval."""

import os
import socket
import sys
import tempfile
import unittest
import uuid

from streamerbrainz.app import systemd


@unittest.skipUnless(hasattr(socket, "AF_UNIX"), "needs AF_UNIX sockets")
class NotifierTest(unittest.TestCase):

    def listen(self, address):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(address)
        sock.settimeout(5)  # a deadline for a datagram already sent, not a wait
        return sock

    def path_socket(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "notify")
        return self.listen(path), path

    def test_ready_stopping_watchdog_on_a_path_socket(self):
        sock, path = self.path_socket()
        notifier = systemd.Notifier({"NOTIFY_SOCKET": path})
        self.assertTrue(notifier.enabled)
        self.assertTrue(notifier.ready())
        self.assertEqual(sock.recv(4096), b"READY=1")
        self.assertTrue(notifier.watchdog())
        self.assertEqual(sock.recv(4096), b"WATCHDOG=1")
        self.assertTrue(notifier.stopping())
        self.assertEqual(sock.recv(4096), b"STOPPING=1")

    def test_ready_with_status(self):
        sock, path = self.path_socket()
        notifier = systemd.Notifier({"NOTIFY_SOCKET": path})
        self.assertTrue(notifier.ready("listening on 0.0.0.0:3001"))
        lines = sock.recv(4096).decode("utf-8").split("\n")
        self.assertEqual(lines[0], "READY=1")
        self.assertIn("STATUS=listening on 0.0.0.0:3001", lines)

    @unittest.skipUnless(sys.platform.startswith("linux"), "abstract sockets are Linux only")
    def test_abstract_socket(self):
        name = "streamerbrainz-test-%s" % uuid.uuid4().hex
        sock = self.listen("\0" + name)
        notifier = systemd.Notifier({"NOTIFY_SOCKET": "@" + name})
        self.assertTrue(notifier.enabled)
        self.assertTrue(notifier.ready())
        self.assertEqual(sock.recv(4096), b"READY=1")
        self.assertTrue(notifier.stopping())
        self.assertEqual(sock.recv(4096), b"STOPPING=1")

    def test_disabled_without_notify_socket(self):
        notifier = systemd.Notifier({})
        self.assertFalse(notifier.enabled)
        self.assertFalse(notifier.ready())
        self.assertFalse(notifier.stopping())
        self.assertFalse(notifier.watchdog())

    def test_relative_or_empty_socket_is_ignored(self):
        for value in ("", "notify", "udp:127.0.0.1:9"):
            with self.subTest(value=value):
                notifier = systemd.Notifier({"NOTIFY_SOCKET": value})
                self.assertFalse(notifier.enabled)
                self.assertFalse(notifier.ready())

    def test_missing_socket_is_not_an_error(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        notifier = systemd.Notifier({"NOTIFY_SOCKET": os.path.join(tmp.name, "gone")})
        self.assertTrue(notifier.enabled)
        self.assertFalse(notifier.ready())
        self.assertFalse(notifier.stopping())

    def test_reads_os_environ_by_default(self):
        sock, path = self.path_socket()
        saved = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = path
        try:
            notifier = systemd.Notifier()
        finally:
            if saved is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = saved
        self.assertTrue(notifier.ready())
        self.assertEqual(sock.recv(4096), b"READY=1")


class WatchdogTest(unittest.TestCase):

    def interval(self, environ):
        return systemd.Notifier(environ).watchdog_interval

    def test_half_of_watchdog_usec_in_seconds(self):
        self.assertEqual(self.interval({"WATCHDOG_USEC": "20000000"}), 10.0)
        self.assertEqual(self.interval({"WATCHDOG_USEC": "3000000"}), 1.5)

    def test_our_pid(self):
        self.assertEqual(self.interval({"WATCHDOG_USEC": "20000000",
                                        "WATCHDOG_PID": str(os.getpid())}), 10.0)

    def test_another_pid_disables_it(self):
        self.assertIsNone(self.interval({"WATCHDOG_USEC": "20000000",
                                         "WATCHDOG_PID": str(os.getpid() + 1)}))

    def test_absent_zero_or_junk_disables_it(self):
        for value in (None, "", "0", "abc", "-5", "1.5"):
            with self.subTest(value=value):
                environ = {} if value is None else {"WATCHDOG_USEC": value}
                self.assertIsNone(self.interval(environ))


if __name__ == "__main__":
    unittest.main()
