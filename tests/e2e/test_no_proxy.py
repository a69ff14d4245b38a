"""No request of the project goes through a proxy: tokens and secrets never travel through one.

The daemon (its Plex fetch and its HTTP notifications), ``status`` and
``players`` all run with every proxy variable pointing at a listening
socket; each must do its job directly, and the socket must see no
connection at all.
"""

import select
import socket
import unittest

from tests.support import webhooks
from tests.support.daemon import E2ECase, run_cli, start_daemon, start_stub, write_token

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY")


def listener(testcase):
    sock = socket.socket()
    testcase.addCleanup(sock.close)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def knocked(sock, timeout):
    """Whether a connection waits on ``sock`` within ``timeout`` seconds."""
    return bool(select.select([sock], [], [], timeout)[0])


class NoProxyTest(E2ECase):

    def setUp(self):
        self.proxy = listener(self)
        url = "http://127.0.0.1:%d" % self.proxy.getsockname()[1]
        self.env = {name: url for name in PROXY_VARIABLES}
        self.env["no_proxy"] = self.env["NO_PROXY"] = ""

    def test_fetch_notification_status_and_players_go_direct(self):
        receiver = listener(self)
        notify_url = "http://127.0.0.1:%d/hook" % receiver.getsockname()[1]
        self.stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        self.daemon = start_daemon(self, self.stub, env=self.env,
                                   extra_args=["-notify-url", notify_url])
        self.wait_state("playing")
        self.assertTrue(knocked(receiver, 5), "the notification never came directly\n"
                        + self.daemon.log())
        status = run_cli(["status", "-url", "http://127.0.0.1:%d" % self.daemon.port],
                         env=self.env)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn("playing", status.stdout)
        token_file = write_token(self)
        players = run_cli(["players", "-plex-server-url", self.stub.url,
                           "-plex-token-file", token_file], env=self.env)
        self.assertEqual(players.returncode, 0, players.stderr)
        self.assertIn("Office", players.stdout)
        self.assertFalse(knocked(self.proxy, 0), "something went through the proxy")


if __name__ == "__main__":
    unittest.main()
