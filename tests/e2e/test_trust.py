"""End to end: who may talk to the daemon, how much work they can cause, and
what a misbehaving Plex can do to it (issue 3).

``-webhooks-secret-file`` (flag, environment, systemd credential),
``-webhooks-allow`` (IPv4, IPv6, IPv4-mapped), the bounds on bodies, heads,
slow and idle clients and threads, and Plex answering 500, 401, nothing, or
an entity bomb. Secrets and tokens never reach a log line.
"""

import http.client
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

from tests.support import webhooks
from tests.support.webhooks import request
from tests.support.daemon import (E2ECase, Daemon, free_port, parse_log_line, remove_file, run_cli,
                                  start_daemon, start_stub, state_changes, state_pattern,
                                  unreachable_plex, wait_for)
from tests.support.plexstub import DEFAULT_TOKEN

SECRET = "Wz8-kP2_qL5.vN7~tR4xY1mB"
OTHER_SECRET = "Hq3~Jd9.Xe2_Vb6-Nc1pLm0s"
TITLE = "Once in a Lifetime"
MAX_THREADS = 45


def write_file(testcase, content, directory=None, name=None):
    if directory is not None:
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(content)
    else:
        handle, path = tempfile.mkstemp(prefix="sbz-trust-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
    testcase.addCleanup(remove_file, path)
    return path


def post_play(port, path=webhooks.WEBHOOK_PATH, host="127.0.0.1", timeout=5):
    content_type, body = webhooks.multipart_body(webhooks.fixture("payload_play.json"))
    return request(port, "POST", path, body, {"Content-Type": content_type}, timeout, host)


def thread_count(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line for %d" % pid)


def assert_never_logged(testcase, daemon, *secrets):
    lines = daemon.lines() + daemon.stdout_lines()
    for secret in secrets:
        for line in lines:
            testcase.assertNotIn(secret, line)
    for line in lines:
        testcase.assertNotIn("[redacted]", line, "the code tried to log a secret")


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        return sock.getsockname()[1]


def start_bare(testcase, args, env=None, port=None):
    """The daemon with ``args`` and no Plex, on ``port`` (a free IPv4 one by default)."""
    port = port or free_port()
    daemon = Daemon(["-webhooks-port", str(port), "-log-level", "debug"] + list(args), env)
    testcase.addCleanup(daemon.stop)
    daemon.port = port
    daemon.wait_for_line("webhooks server listening", timeout=10)
    return daemon


# -- the secret path ---------------------------------------------------------


class SecretTests(unittest.TestCase):

    def test_only_the_secret_path_is_served_and_misses_look_unknown(self):
        stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        secret_file = write_file(self, SECRET + "\n")
        daemon = start_daemon(self, stub, extra_args=["-webhooks-secret-file", secret_file])
        self.assertTrue(stub.wait_for_count(1, 5))
        enabled = parse_log_line(daemon.wait_for_line("Plex webhook enabled"))
        self.assertEqual(enabled.fields.get("endpoint"), "/webhooks/plex/\u2026")
        status, _, body = post_play(daemon.port, "/webhooks/plex/" + SECRET)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body.decode())["status"], "queued")
        daemon.wait_for_line(state_pattern("playing"))
        unknown = post_play(daemon.port, "/no/such/path")
        self.assertEqual(unknown[0], 404)
        for path in ("/webhooks/plex", "/webhooks/plex/", "/webhooks/plex/wrong-guess-0123456",
                     "/webhooks/plex/" + SECRET[:-1], "/webhooks/plex/" + SECRET + "x",
                     "/webhooks/plex/" + SECRET.upper(), "/webhooks/plex/" + SECRET + "/",
                     "/webhooks/plex//" + SECRET, "/webhooks/plex/%s/x" % SECRET):
            with self.subTest(path=path):
                status, headers, body = post_play(daemon.port, path)
                self.assertEqual((status, body), unknown[::2], "a miss must look like 404")
                self.assertEqual(sorted(k for k in headers if k != "date"),
                                 sorted(k for k in unknown[1] if k != "date"))
        # GET on the bare path is not a hint either.
        self.assertEqual(request(daemon.port, "GET", "/webhooks/plex")[::2], unknown[::2])
        # A query string does not get in the way of the right secret.
        status, _, body = post_play(daemon.port, "/webhooks/plex/%s?from=pms" % SECRET)
        self.assertEqual(status, 200, body)
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        self.assertIn("/webhooks/plex/\u2026", daemon.log())
        assert_never_logged(self, daemon, SECRET, SECRET[:-1], "wrong-guess-0123456",
                            SECRET.upper())

    def test_secret_from_the_environment_and_from_systemd_credentials(self):
        secret = "Ab9-._~xyzXYZ012"  # exactly 16, every punctuation allowed
        secret_file = write_file(self, secret)
        credentials = tempfile.mkdtemp(prefix="sbz-creds-")
        self.addCleanup(shutil.rmtree, credentials, True)
        write_file(self, OTHER_SECRET + "\n", credentials, "webhooks-secret")
        for env, good in (({"STREAMERBRAINZ_WEBHOOKS_SECRET_FILE": secret_file}, secret),
                          ({"CREDENTIALS_DIRECTORY": credentials}, OTHER_SECRET)):
            with self.subTest(env=sorted(env)):
                daemon = start_bare(self, ["-webhooks-bind", "127.0.0.1"], env)
                # Without Plex a webhook is acknowledged and ignored: 200, not 404.
                status, _, body = post_play(daemon.port, "/webhooks/plex/" + good)
                self.assertEqual(status, 200, body)
                self.assertEqual(post_play(daemon.port, "/webhooks/plex")[0], 404)
                daemon.terminate()
                self.assertEqual(daemon.wait_exit(5), 0)
                assert_never_logged(self, daemon, good)

    def test_bad_secrets_exit_2_naming_the_flag(self):
        cases = {
            "too short": "Ab9-._~xyzXYZ01",
            "slash": "abcdefghij/klmnopq",
            "percent": "abcdefghij%20klmnopq",
            "space inside": "abcdefghij klmnopq",
            "non-ascii": "abcdefghij\u00e9klmnopq",
            "empty": "",
        }
        for why, content in cases.items():
            with self.subTest(why=why):
                path = write_file(self, content + "\n")
                result = run_cli(["-webhooks-secret-file", path, "-webhooks-port", "0"])
                self.assertEqual(result.returncode, 2, result.stderr)
                lines = result.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertIn("-webhooks-secret-file", lines[0])
                if content:
                    self.assertNotIn(content, result.stderr)
                self.assertEqual(result.stdout, "")
        result = run_cli(["-webhooks-secret-file", "/nonexistent/sbz-secret",
                          "-webhooks-port", "0"])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("-webhooks-secret-file", result.stderr)
        # The same check applies to the systemd credential.
        credentials = tempfile.mkdtemp(prefix="sbz-creds-")
        self.addCleanup(shutil.rmtree, credentials, True)
        write_file(self, "short\n", credentials, "webhooks-secret")
        result = run_cli(["-webhooks-port", "0"], env={"CREDENTIALS_DIRECTORY": credentials})
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("-webhooks-secret-file", result.stderr)

    def test_sighup_replaces_the_secret(self):
        secret_file = write_file(self, SECRET + "\n")
        daemon = start_bare(self, ["-webhooks-bind", "127.0.0.1",
                                   "-webhooks-secret-file", secret_file])
        self.assertEqual(post_play(daemon.port, "/webhooks/plex/" + SECRET)[0], 200)
        with open(secret_file, "w") as out:
            out.write(OTHER_SECRET + "\n")
        mark = daemon.mark()
        daemon.send_signal(signal.SIGHUP)
        line = daemon.wait_for_line("SIGHUP: reloaded", start=mark)
        record = parse_log_line(line)
        self.assertEqual(record.fields.get("flag"), "-webhooks-secret-file")
        self.assertEqual(record.fields.get("changed"), "true")
        self.assertEqual(post_play(daemon.port, "/webhooks/plex/" + OTHER_SECRET)[0], 200)
        self.assertEqual(post_play(daemon.port, "/webhooks/plex/" + SECRET)[0], 404)
        # A bad new secret keeps the current one.
        with open(secret_file, "w") as out:
            out.write("short\n")
        mark = daemon.mark()
        daemon.send_signal(signal.SIGHUP)
        line = daemon.wait_for_line("SIGHUP: keeping the current value", start=mark)
        self.assertEqual(parse_log_line(line).level, "WARN")
        self.assertEqual(post_play(daemon.port, "/webhooks/plex/" + OTHER_SECRET)[0], 200)
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        assert_never_logged(self, daemon, SECRET, OTHER_SECRET)


# -- who may post --------------------------------------------------------------


class AllowTests(unittest.TestCase):

    def test_refused_address_gets_403_logged_once_and_healthz_stays_open(self):
        stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        secret_file = write_file(self, SECRET)
        daemon = start_daemon(self, stub, extra_args=[
            "-webhooks-allow", "10.0.0.0/8", "-webhooks-secret-file", secret_file])
        self.assertTrue(stub.wait_for_count(1, 5))
        self.assertTrue(stub.wait_idle(5))
        count = stub.count
        for _ in range(5):
            status, headers, body = post_play(daemon.port, "/webhooks/plex/" + SECRET)
            self.assertEqual(status, 403, body)
            self.assertEqual(headers.get("content-type"), "application/json")
            self.assertIn("error", json.loads(body.decode()))
        self.assertEqual(stub.count, count, "a refused webhook must not cause a fetch")
        for path in ("/healthz", "/"):
            status, _, body = request(daemon.port, "GET", path)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body.decode())["status"], "ok")
            self.assertNotIn(SECRET.encode(), body)
            self.assertNotIn(DEFAULT_TOKEN.encode(), body)
        self.assertEqual(request(daemon.port, "GET", "/state")[0], 200)
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        refusals = [line for line in daemon.lines() if "webhook refused" in line
                    and parse_log_line(line).level == "WARN"]
        self.assertEqual(len(refusals), 1, daemon.log())
        self.assertEqual(parse_log_line(refusals[0]).fields.get("client"), "127.0.0.1")
        assert_never_logged(self, daemon, SECRET)

    def test_allowed_networks_repeated_and_comma_separated(self):
        daemon = start_bare(self, ["-webhooks-bind", "127.0.0.1",
                                   "-webhooks-allow", "10.0.0.0/8,fd00::/8",
                                   "--webhooks-allow=127.0.0.1/32"])
        status, _, body = post_play(daemon.port)
        self.assertEqual(status, 200, body)
        self.assertEqual(daemon.count("webhook refused"), 0)

    def test_environment_list(self):
        daemon = start_bare(self, ["-webhooks-bind", "127.0.0.1"],
                            env={"STREAMERBRAINZ_WEBHOOKS_ALLOW": "192.168.0.0/16, 127.0.0.0/8"})
        self.assertEqual(post_play(daemon.port)[0], 200)

    @unittest.skipUnless(ipv6_loopback(), "this machine has no IPv6 loopback (::1)")
    def test_ipv6_loopback(self):
        for allow, expected in (("::1/128", 200), ("fd00::/8,127.0.0.1/32", 403)):
            with self.subTest(allow=allow):
                daemon = start_bare(self, ["-webhooks-bind", "::1", "-webhooks-allow", allow],
                                    port=free_port6())
                status, _, body = post_play(daemon.port, host="::1")
                self.assertEqual(status, expected, body)
                self.assertEqual(request(daemon.port, "GET", "/healthz", host="::1")[0], 200)

    def test_ipv4_mapped_clients_match_ipv4_networks(self):
        # An IPv6 socket bound to ::ffff:127.0.0.1 sees IPv4 clients as ::ffff:127.0.0.1.
        for allow, expected in (("127.0.0.0/8", 200), ("10.0.0.0/8", 403),
                                ("::ffff:127.0.0.0/104", 200), ("::ffff:127.0.0.1/128", 200)):
            with self.subTest(allow=allow):
                daemon = start_bare(self, ["-webhooks-bind", "::ffff:127.0.0.1",
                                           "-webhooks-allow", allow])
                status, _, body = post_play(daemon.port)
                self.assertEqual(status, expected, body)

    def test_bad_networks_exit_2(self):
        for value in ("10.0.0.0/33", "not-a-network", "fd00::/129", "10.0.0.0/8,,x"):
            with self.subTest(value=value):
                result = run_cli(["-webhooks-allow", value, "-webhooks-port", "0"])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn("-webhooks-allow", result.stderr)


# -- bounded work --------------------------------------------------------------


def raw_answer(port, data, timeout=3):
    """Send ``data`` on a fresh connection and read one answer; ``(status, headers, body)``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(data)
        answer = http.client.HTTPResponse(sock, method="POST")
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        sock.close()


def raise_fd_limit(testcase, wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        testcase.skipTest("RLIMIT_NOFILE hard limit %d < %d: cannot open enough sockets"
                          % (hard, wanted))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    testcase.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


class Dribbler(threading.Thread):
    """A client that sends its request one byte every half second."""

    REQUEST = (b"POST /webhooks/plex HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    def __init__(self, port):
        super().__init__(name="dribbler", daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.first_byte = None
        self.cut_after = None
        self.answer = None
        self.sent = 0
        self.stop = threading.Event()

    def run(self):
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            for byte in self.REQUEST:
                try:
                    self.sock.send(bytes([byte]))
                except OSError:
                    break
                self.sent += 1
                if self.first_byte is None:
                    self.first_byte = time.monotonic()
                # Paced by waiting for the daemon to say something, for half a second.
                if selector.select(0.5) or self.stop.is_set():
                    break
            try:
                self.answer = self.sock.recv(4096)
            except OSError as err:
                self.answer = repr(err)
            self.cut_after = time.monotonic() - self.first_byte
        self.sock.close()


class BoundedWorkTests(unittest.TestCase):

    def start(self, args=()):
        stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        daemon = start_daemon(self, stub, log_level="info", extra_args=list(args))
        self.assertTrue(stub.wait_for_count(1, 5))
        return daemon

    def test_body_over_8_mib_is_413_before_it_is_sent(self):
        daemon = self.start()
        head = ("POST /webhooks/plex HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                "boundary=x\r\nContent-Length: %d\r\n\r\n" % (8 * 1024 * 1024 + 1)).encode()
        started = time.monotonic()
        status, _, body = raw_answer(daemon.port, head)  # and not a byte of the body
        self.assertEqual(status, 413, body)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertIn("error", json.loads(body.decode()))
        self.assertEqual(request(daemon.port, "GET", "/healthz")[0], 200)

    def test_head_over_32_kib_is_431(self):
        daemon = self.start()
        headers = "".join("X-Padding-%02d: %s\r\n" % (n, "a" * 1000) for n in range(40))
        data = ("POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n"
                % headers).encode()
        self.assertGreater(len(data), 32 * 1024)
        try:
            status, _, body = raw_answer(daemon.port, data)
        except ConnectionResetError as err:
            self.fail("the connection was reset instead of answered 431: %r" % err)
        self.assertEqual(status, 431, body)
        # The same head under the limit is fine.
        data = data.replace(b"a" * 1000, b"a" * 500)
        self.assertEqual(raw_answer(daemon.port, data)[0], 200)

    def test_more_than_100_headers_is_431(self):
        daemon = self.start()
        for count, expected in ((101, 431), (150, 431), (90, 200)):
            with self.subTest(headers=count):
                headers = "".join("X-H%d: v\r\n" % n for n in range(count - 2))
                data = ("POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n"
                        % headers).encode()
                self.assertEqual(raw_answer(daemon.port, data)[0], expected)
        status, _, _ = request(daemon.port, "GET", "/healthz")
        self.assertEqual(status, 200)

    def test_idle_partial_and_dribbling_clients_cannot_starve_the_daemon(self):
        if not os.path.exists("/proc/self/status"):
            self.skipTest("no /proc to count the daemon's threads")
        raise_fd_limit(self, 1400)
        daemon = self.start()
        self.assertLessEqual(thread_count(daemon.pid), MAX_THREADS)
        idle = []
        self.addCleanup(lambda: [sock.close() for sock in idle])
        try:
            for n in range(500):
                idle.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=5))
                if n % 50 == 49:
                    # Let the accept loop catch up: a full listen backlog would make
                    # the next connect wait for a SYN retry (a second) and slow the test.
                    self.assertEqual(request(daemon.port, "GET", "/healthz", timeout=1)[0], 200)
        except OSError as err:
            self.skipTest("could not open 500 sockets: %s" % err)
        opened = time.monotonic()
        dribbler = Dribbler(daemon.port)
        self.addCleanup(dribbler.stop.set)
        dribbler.start()
        # A real webhook (and /healthz) get through at once.
        started = time.monotonic()
        status, _, body = post_play(daemon.port, timeout=1)
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - started, 1.0)
        started = time.monotonic()
        self.assertEqual(request(daemon.port, "GET", "/healthz", timeout=1)[0], 200)
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertLessEqual(thread_count(daemon.pid), MAX_THREADS)
        # Clients that start a request and stall take no worker at all: the
        # accept thread holds their bytes until the request is whole.
        partial = []
        self.addCleanup(lambda: [sock.close() for sock in partial])
        for _ in range(60):
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
            sock.sendall(b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n")
            partial.append(sock)
        self.assertTrue(wait_for(lambda: request(daemon.port, "GET", "/healthz",
                                                 timeout=1)[0] == 200, timeout=3))
        started = time.monotonic()
        status, _, body = post_play(daemon.port, timeout=1)
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertLessEqual(thread_count(daemon.pid), MAX_THREADS)
        with selectors.DefaultSelector() as selector:
            for sock in partial:
                selector.register(sock, selectors.EVENT_READ)
            self.assertEqual(selector.select(0), [], "a stalled request got an answer")
        for sock in partial:
            sock.close()
        # The dribbler is cut off at the read deadline (10 s), not served forever.
        dribbler.join(14)
        self.assertIsNotNone(dribbler.cut_after, "the dribbling client was never cut off")
        self.assertGreaterEqual(dribbler.cut_after, 9.0)
        self.assertLess(dribbler.cut_after, 12.0)
        self.assertLess(dribbler.sent, len(Dribbler.REQUEST))
        self.assertFalse(dribbler.answer and dribbler.answer.startswith(b"HTTP/1.1 200"),
                         dribbler.answer)
        # The idle connections are closed by the daemon at the same deadline.
        with selectors.DefaultSelector() as selector:
            for sock in idle:
                selector.register(sock, selectors.EVENT_READ)
            pending = set(idle)
            deadline = opened + 11.0
            while pending and time.monotonic() < deadline:
                for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                    selector.unregister(key.fileobj)
                    pending.discard(key.fileobj)
            self.assertEqual(len(pending), 0, "%d idle connections still open after 11 s"
                             % len(pending))
        self.assertLessEqual(thread_count(daemon.pid), MAX_THREADS)
        self.assertTrue(daemon.running())
        self.assertNotIn("HTTP handler failed", daemon.log())


# -- a misbehaving Plex -----------------------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE MediaContainer [\n'
                  ' <!ENTITY lol "lol">\n'
                  + "".join(' <!ENTITY lol%d "%s">\n' % (n, ("&lol%s;" % ("" if n == 1 else
                                                                            n - 1)) * 10)
                            for n in range(1, 10))
                  + ']>\n<MediaContainer size="1"><Track title="&lol9;" sessionKey="1">'
                    '<Player machineIdentifier="bc97b983-8169-47e3-bbcc-54a12d662546" '
                    'state="playing"/></Track></MediaContainer>\n')

SMALL_ENTITY = ('<!DOCTYPE MediaContainer [<!ENTITY t "Entity Title">]>'
                '<MediaContainer size="1"><Track title="&t;" sessionKey="53" ratingKey="6260">'
                '<Player machineIdentifier="bc97b983-8169-47e3-bbcc-54a12d662546" '
                'state="paused" title="Office"/></Track></MediaContainer>')

WARN_FAILED = re.compile(r"\[WARN\] Plex fetch failed")


class PlexMisbehaviourTests(E2ECase):

    def failure_warnings(self, start=0):
        return [line for line in self.daemon.lines()[start:]
                if WARN_FAILED.search(line)]

    def test_plex_failing_at_start_is_one_warning_then_recovers(self):
        self.stub = start_stub(self, webhooks.fixture("sessions_empty.xml"))
        self.stub.set_fault("500")
        self.daemon = start_daemon(self, self.stub, extra_args=["-plex-timeout", "0.2"])
        line = self.daemon.wait_for_line("not reachable at start-up", timeout=5)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        self.assertEqual(request(self.daemon.port, "GET", "/healthz")[0], 200)
        self.stub.set_fault(None)
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.daemon.wait_for_line("Plex reachable again")
        playing = self.wait_state("playing")
        self.assertEqual(playing["title"], TITLE)
        self.assertEqual(self.daemon.count("not reachable at start-up"), 1)
        self.assertEqual(self.daemon.count("[ERROR]"), 0, self.daemon.log())

    def test_nothing_listening_at_start_is_one_warning(self):
        daemon = start_daemon(self, unreachable_plex(), extra_args=["-plex-timeout", "0.2"])
        line = daemon.wait_for_line("not reachable at start-up", timeout=5)
        self.assertEqual(parse_log_line(line).level, "WARN", line)
        for _ in range(3):
            status, _, body = post_play(daemon.port)
            self.assertEqual(status, 200, body)
        status, _, body = request(daemon.port, "GET", "/healthz")
        self.assertEqual(status, 200)
        health = json.loads(body.decode())
        self.assertEqual(health["last_fetch"]["outcome"], "error")
        self.assertNotIn(DEFAULT_TOKEN, body.decode())
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        self.assertEqual(daemon.count("[WARN]"), 1, daemon.log())

    def test_ten_webhooks_while_plex_answers_500_are_one_warning(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=["-plex-timeout", "0.2"])
        self.wait_state("playing")
        self.assertTrue(self.stub.wait_idle(5))
        mark = self.daemon.mark()
        self.stub.set_fault("500")
        for n in range(10):
            self.send(None)
            # Wait until this webhook's fetch failed once (it retries once with
            # -plex-timeout 0.2), so the next webhook is a fetch of its own.
            self.daemon.wait_for_lines("Plex fetch failed; retrying", n + 1, start=mark)
        failed = re.compile(r"\] Plex fetch failed(?: \(repeated \d+ times[^)]*\))? error=")
        self.daemon.wait_for_lines(failed, 10, timeout=10, start=mark)
        self.assertLessEqual(len(self.failure_warnings(mark)), 1, self.daemon.log())
        self.assertEqual(len(self.failure_warnings(mark)), 1, "the first failure is a warning")
        self.stub.set_fault(None)
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.daemon.wait_for_line("Plex reachable again", start=mark)
        self.wait_state("paused")
        self.assertEqual(len(self.failure_warnings(mark)), 1, self.daemon.log())

    def test_401_is_one_error_and_sighup_with_a_new_token_recovers(self):
        old, new = "old-token-Ut5Yh7Kq", "new-token-Ws2Ep9Lz"
        self.start_plex_and_daemon("sessions_track.xml", token=old, stub_token=old)
        self.wait_state("playing")
        self.assertTrue(self.stub.wait_idle(5))
        self.addCleanup(self.assert_tokens_secret, old, new)
        mark, base = self.daemon.mark(), self.stub.count
        self.stub.token = new  # the server revoked the old token
        self.send("payload_play.json")
        line = self.daemon.wait_for_line("Plex rejected the token (401)", start=mark)
        self.assertEqual(parse_log_line(line).level, "ERROR", line)
        self.assertIn("Plex rejected the token (401): it may have expired or been revoked; "
                      "update -plex-token-file and send SIGHUP", line)
        self.assertEqual(self.stub.count, base + 1, "a 401 is not retried")
        for _ in range(5):
            self.send("payload_play.json")
        self.assertTrue(self.stub.wait_idle(5))
        self.assertLessEqual(self.stub.count, base + 6, "at most one request per webhook")
        errors = [l for l in self.daemon.lines()[mark:] if "[ERROR]" in l]
        self.assertEqual(len(errors), 1, self.daemon.log())
        # The user fixes the file and sends SIGHUP: the daemon asks again at once.
        with open(self.daemon.token_file, "w") as out:
            out.write(new + "\n")
        mark, count = self.daemon.mark(), len(self.stub.session_requests())
        self.daemon.send_signal(signal.SIGHUP)
        line = self.daemon.wait_for_line("SIGHUP: reloaded", start=mark)
        self.assertRegex(line, r"SIGHUP: reloaded flag=-plex-token-file changed=true")
        self.assertTrue(wait_for(lambda: [r for r in self.stub.session_requests()[count:]
                                          if r.headers.get("X-Plex-Token") == new], 5),
                        "no request with the new token after SIGHUP\n" + self.daemon.log())
        self.daemon.wait_for_line("Plex reachable again", start=mark)
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused", start=mark)

    def assert_tokens_secret(self, *tokens):
        assert_never_logged(self, self.daemon, *tokens)
        for request_ in self.stub.all_requests():
            for token in tokens:
                self.assertNotIn(token, request_.raw_path)

    def test_sighup_with_the_token_file_gone_keeps_the_token(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        os.unlink(self.daemon.token_file)
        mark = self.daemon.mark()
        self.daemon.send_signal(signal.SIGHUP)
        line = self.daemon.wait_for_line("keeping the current value", start=mark)
        record = parse_log_line(line)
        self.assertEqual(record.level, "WARN", line)
        self.assertIn(self.daemon.token_file, line)
        self.assertEqual(record.fields.get("flag"), "-plex-token-file")
        # Still working, with the token it had.
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused", start=mark)
        self.assertEqual(self.stub.session_requests()[-1].headers.get("X-Plex-Token"),
                         DEFAULT_TOKEN)
        self.assertTrue(self.daemon.running())

    def test_billion_laughs_is_refused_and_the_daemon_stays_up(self):
        self.start_plex_and_daemon("sessions_track.xml", extra_args=["-plex-timeout", "2"])
        self.wait_state("playing")
        mark = self.daemon.mark()
        self.stub.set_sessions(BILLION_LAUGHS.encode("utf-8"))
        self.send(None)
        line = self.daemon.wait_for_line(WARN_FAILED, start=mark, timeout=5)
        self.assertRegex(line, r"(?i)doctype|entity")
        started = time.monotonic()
        self.assertEqual(request(self.daemon.port, "GET", "/healthz", timeout=1)[0], 200)
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(state_changes(self.daemon, mark), [])
        self.assertTrue(self.daemon.running())

    def test_entity_documents_in_utf16_are_refused_too(self):
        # The DOCTYPE/ENTITY check must not depend on the document being ASCII-compatible.
        self.start_plex_and_daemon("sessions_track.xml", extra_args=["-plex-timeout", "2"])
        self.wait_state("playing")
        for name, document in (("billion laughs", BILLION_LAUGHS.replace("UTF-8", "UTF-16")),
                               ("small entity", SMALL_ENTITY)):
            with self.subTest(document=name):
                mark = self.daemon.mark()
                self.stub.set_sessions(document.encode("utf-16"))
                self.send(None)
                line = self.daemon.wait_for_line(re.compile(
                    r"Plex fetch failed|Plex state changed"), start=mark, timeout=5)
                self.assertIn("Plex fetch failed", line)
                self.assertNotIn("Entity Title", self.daemon.log())
                self.stub.set_sessions(webhooks.fixture("sessions_track.xml"))
        self.assertTrue(self.daemon.running())

    def test_unknown_encoding_is_a_fetch_failure(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        mark = self.daemon.mark()
        self.stub.set_sessions(webhooks.fixture("sessions_track.xml").replace(
            b'encoding="UTF-8"', b'encoding="shift_jis"'))
        self.send(None)
        line = self.daemon.wait_for_line(re.compile(r"Plex fetch failed|failed; carrying on"),
                                         start=mark)
        self.assertIn("[WARN] Plex fetch failed", line)
        self.assertTrue(self.daemon.running())


if __name__ == "__main__":
    unittest.main()
