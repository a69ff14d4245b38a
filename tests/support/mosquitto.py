"""A real mosquitto broker, and its command-line clients, for tests.

The daemon's MQTT side has to be tested against a broker that behaves the
way the one on a user's network does: it refuses a wrong password, keeps
retained messages across a restart, drops connections when it dies. A
stand-in would only show what its author believed, so these tests run the
real ``mosquitto`` (``.ci/run`` installs it, with ``mosquitto-clients``):

- ``Mosquitto`` starts a broker of its own on a free loopback port, with a
  generated configuration, password file, persistence folder and log in a
  temporary folder. ``start()`` returns once the broker has answered a real
  MQTT CONNECT with a CONNACK; ``stop()``, ``kill()`` and ``restart()`` (on
  the same port, with the same retained messages) play the broker's part in
  a test of reconnection.
- ``Subscriber`` runs ``mosquitto_sub`` and collects what arrives, so a test
  can wait for a message with a deadline; it returns from its constructor
  once the broker has the subscription (a probe message came back).
- ``publish()`` runs ``mosquitto_pub``; ``retained()`` lists the retained
  messages under a topic filter.

``skip_unless_mosquitto`` skips a test when the programs are not installed;
every other problem fails, with the broker's log in the message. Passwords
go to the programs on their command lines (fine on a test machine) but
never into an assertion message. Each wait has a deadline; every process
and thread a helper starts is stopped by its ``stop()`` or ``close()``.

Quirks of mosquitto 2.0 handled here:

- started as root, mosquitto drops to the ``mosquitto`` user, which could
  not read the password file nor write the persistence folder in a private
  temporary folder (it fails only when saving, at exit): as root the
  configuration says ``user root``;
- ``log_type`` takes one type a line (more words are silently ignored);
- the database is written at a clean exit (SIGTERM) and every
  ``autosave_interval`` (30 minutes by default): after ``kill()`` the
  retained messages since the last clean stop are gone, as after a real
  crash;
- ``mosquitto_pub`` at QoS 0 exits once it has sent the message, perhaps
  before the broker has read it: publish with ``qos=1`` a message that must
  be in the broker before the next step (a stop, say);
- ``mosquitto_sub`` flushes its output after each message but not after its
  ``-d`` debug lines, so the subscription is known to be in place only when
  a message comes back: the probe, on a ``$`` topic that ``#`` does not
  match, so no other subscriber sees it.
"""

import collections
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from tests.support.daemon import free_port

HOST = "127.0.0.1"
TOOLS = ("mosquitto", "mosquitto_passwd", "mosquitto_sub", "mosquitto_pub")
MISSING_REASON = "mosquitto is not installed (.ci/run installs it)"
PROBE_PREFIX = "$sbz-harness/probe/"

# mosquitto_sub -F: retained flag, QoS, "x" and the payload in hex (never
# empty, never a space), then the topic, which may hold spaces, last.
_FORMAT = "%r %q x%x %t"
_LINE = re.compile(r"^([01]) ([012]) x([0-9a-f]*) (.*)$")

Message = collections.namedtuple("Message", "topic payload retained qos")
Message.__doc__ = """One message a Subscriber received: ``topic`` (str), ``payload``
(bytes), ``retained`` (bool, as the broker flagged it) and ``qos`` (0, 1 or 2)."""


# -- finding the programs ------------------------------------------------------

def find_tool(name):
    """The path of ``name`` in PATH or else in /usr/sbin (where Debian puts mosquitto); or None."""
    found = shutil.which(name)
    if found:
        return found
    candidate = os.path.join("/usr/sbin", name)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return None


def find_mosquitto():
    """The path of the broker, ``mosquitto``, or None."""
    return find_tool("mosquitto")


def missing_reason():
    """Why the mosquitto tests cannot run here, or None when every program is installed."""
    missing = [name for name in TOOLS if find_tool(name) is None]
    if not missing:
        return None
    if "mosquitto" in missing or "mosquitto_passwd" in missing:
        return MISSING_REASON
    return "%s %s not installed (.ci/run installs mosquitto-clients)" % (
        " and ".join(missing), "is" if len(missing) == 1 else "are")


def skip_unless_mosquitto(target=None):
    """Skip a test (or a TestCase class) when mosquitto or its clients are not installed.

    Use as ``@skip_unless_mosquitto`` or ``@skip_unless_mosquitto()``.
    """
    reason = missing_reason()
    decorator = unittest.skipIf(reason is not None, reason or MISSING_REASON)
    return decorator if target is None else decorator(target)


def _tool(name):
    path = find_tool(name)
    if path is None:
        raise unittest.SkipTest(missing_reason() or MISSING_REASON)
    return path


# -- a minimal MQTT 3.1.1 client, to see that the broker answers ---------------

def _string(value):
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return struct.pack("!H", len(data)) + data


def _packet(first_byte, body):
    length, encoded = len(body), bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            break
    return bytes([first_byte]) + bytes(encoded) + body


class _RawClient:
    """CONNECT (clean session) and QoS 0 PUBLISH, written by hand on a socket.

    ``code`` is the CONNACK's return code (0: accepted, 4: bad user name or
    password, 5: not authorised). Connection problems raise OSError.
    """

    def __init__(self, port, user=None, password=None, timeout=2.0, client_id=None):
        self.client_id = client_id or "sbz-harness-%s" % uuid.uuid4().hex[:12]
        self.sock = socket.create_connection((HOST, port), timeout)
        try:
            flags = 0x02  # clean session
            payload = _string(self.client_id)
            if user is not None:
                flags |= 0x80
                payload += _string(user)
                if password is not None:
                    flags |= 0x40
                    payload += _string(password)
            header = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
            self.sock.sendall(_packet(0x10, header + payload))
            reply = self._read(4)
            if reply[0] != 0x20 or reply[1] != 2:
                raise AssertionError("the broker answered CONNECT with %r, not a CONNACK" % reply)
            self.code = reply[3]
        except BaseException:
            self.sock.close()
            raise

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection before its CONNACK")
            data += chunk
        return data

    def publish(self, topic, payload=b""):
        self.sock.sendall(_packet(0x30, _string(topic) + bytes(payload)))

    def close(self):
        try:
            if self.code == 0:
                self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            pass
        finally:
            self.sock.close()


def connack_code(port, user=None, password=None, timeout=2.0):
    """Connect to the broker on ``port``; return the CONNACK's code (0 when accepted)."""
    client = _RawClient(port, user, password, timeout)
    client.close()
    return client.code


# -- the broker --------------------------------------------------------------------

class Mosquitto:
    """A mosquitto broker of the test's own on 127.0.0.1:``port``; a context manager.

    ``users`` maps user names to passwords: with users, anonymous clients
    are refused; without, anyone may connect. Nothing runs until
    ``start()``; ``close()`` (or leaving the ``with``) kills the broker if
    it still runs and removes its folder.
    """

    def __init__(self, users=None, port=None):
        self.binary = _tool("mosquitto")
        self.users = dict(users or {})
        for name in self.users:
            if not name or ":" in name:
                raise ValueError("a mosquitto user name cannot be empty or hold ':': %r" % name)
        self.port = port or free_port()
        self.proc = None
        self.starts = 0
        self.dir = tempfile.mkdtemp(prefix="sbz-mosquitto-")
        self.conf_path = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.password_path = os.path.join(self.dir, "passwords") if self.users else None
        self.data_dir = os.path.join(self.dir, "data")
        try:
            os.mkdir(self.data_dir, 0o700)
            if self.users:
                self._write_passwords()
            with open(self.conf_path, "w") as out:
                out.write(self.config())
        except BaseException:
            shutil.rmtree(self.dir, True)
            raise

    @property
    def url(self):
        return "mqtt://%s:%d" % (HOST, self.port)

    def config(self):
        """The text of the configuration file."""
        lines = [
            "# written by tests/support/mosquitto.py",
            "listener %d %s" % (self.port, HOST),
            "allow_anonymous %s" % ("false" if self.users else "true"),
        ]
        if self.password_path:
            lines.append("password_file %s" % self.password_path)
        lines += [
            "persistence true",
            "persistence_location %s/" % self.data_dir,
            "log_dest stderr",
        ]
        lines += ["log_type %s" % kind for kind in
                  ("error", "warning", "notice", "information", "subscribe", "unsubscribe")]
        lines.append("log_timestamp_format %Y-%m-%dT%H:%M:%S")
        if os.geteuid() == 0:
            # As root, mosquitto 2.0 would drop to the "mosquitto" user, who
            # can neither read the password file nor save the database here.
            lines.append("user root")
        return "\n".join(lines) + "\n"

    def _write_passwords(self):
        passwd = _tool("mosquitto_passwd")
        for index, (name, password) in enumerate(sorted(self.users.items())):
            create = ["-c"] if index == 0 else []
            done = subprocess.run([passwd] + create + ["-b", self.password_path, name, password],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=10)
            if done.returncode != 0:
                raise AssertionError("mosquitto_passwd could not add user %r (status %d): %s" % (
                    name, done.returncode, _hide(done.stdout.decode("utf-8", "replace"), password)))
        os.chmod(self.password_path, 0o600)

    # -- life cycle ----------------------------------------------------------

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        """Run the broker; return self once it has accepted an MQTT CONNECT."""
        if self.running():
            raise AssertionError("mosquitto is already running on port %d" % self.port)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(self._start_marker())
            log.flush()
            self.proc = subprocess.Popen([self.binary, "-c", self.conf_path], cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            self._wait_ready(time.monotonic() + timeout, timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, deadline, timeout):
        user = password = None
        if self.users:
            user = sorted(self.users)[0]
            password = self.users[user]
        pause = threading.Event()
        while True:
            if self.proc.poll() is not None:
                self._fail("mosquitto exited with status %s before it accepted a connection"
                           % self.proc.returncode)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("mosquitto did not answer the harness's MQTT CONNECT on port %d "
                           "within %gs" % (self.port, timeout))
            client_id = "sbz-harness-ready-%s" % uuid.uuid4().hex[:12]
            try:
                client = _RawClient(self.port, user, password, min(remaining, 2.0), client_id)
                client.close()
            except (OSError, socket.timeout):
                pause.wait(min(0.02, max(0.0, deadline - time.monotonic())))
                continue
            if client.code != 0:
                self._fail("mosquitto refused the harness's CONNECT%s (CONNACK code %d)"
                           % (" as %r" % user if user else "", client.code))
            # mosquitto logs the client before it sends the CONNACK: without
            # the line, another program on the port answered.
            if " as %s " % client_id in self._this_run_log():
                return
            pause.wait(min(0.02, max(0.0, deadline - time.monotonic())))

    def _this_run_log(self):
        marker = self._start_marker().decode("utf-8")
        return self.log().rpartition(marker)[2]

    def _start_marker(self):
        return b"== harness: start %d on port %d\n" % (self.starts, self.port)

    def stop(self, timeout=5.0):
        """SIGTERM (mosquitto saves its database), wait; SIGKILL if it lingers."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                self._note("mosquitto ignored SIGTERM for %gs and was killed" % timeout)
                return
        self._note("mosquitto exited with status %s" % proc.returncode)

    def kill(self):
        """SIGKILL, as a crash: what was not saved yet is lost."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
            self._note("mosquitto killed")
        else:
            self._note("mosquitto had exited with status %s" % proc.returncode)

    def restart(self, timeout=10.0):
        """stop() then start(), on the same port, with the same database."""
        self.stop()
        return self.start(timeout)

    def close(self):
        """Stop the broker if it runs and remove its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- what it said ------------------------------------------------------------

    def log(self):
        """Everything the broker wrote so far, every run, with the harness's ``==`` lines."""
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _note(self, text):
        with open(self.log_path, "ab") as log:
            log.write(b"== harness: " + text.encode("utf-8") + b"\n")

    def _fail(self, what):
        raise AssertionError("%s; mosquitto's log:\n%s" % (what, self.log()))


def start_mosquitto(testcase, users=None, timeout=10.0):
    """Start a Mosquitto that is closed at the test's cleanup; return it."""
    broker = Mosquitto(users)
    testcase.addCleanup(broker.close)
    return broker.start(timeout)


# -- the clients ---------------------------------------------------------------------

def _hide(text, *secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _hide_argument(args, option):
    """``args`` with the value after ``option`` replaced by ``***``."""
    return [("***" if index and args[index - 1] == option else arg)
            for index, arg in enumerate(args)]


def _credentials(user, password):
    args = []
    if user is not None:
        args += ["-u", user]
    if password is not None:
        args += ["-P", password]
    return args


class Subscriber:
    """``mosquitto_sub`` on ``topics`` (a filter or a list), messages read by a thread.

    The constructor returns once the subscription is in place at the broker
    (a probe published on a topic of the subscriber's own came back), or
    fails within ``timeout`` with what mosquitto_sub wrote. ``stop()`` ends
    the program and the thread; a context manager.
    """

    def __init__(self, port, topics, user=None, password=None, qos=0, timeout=5.0):
        self.port = port
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self._user, self._password = user, password
        self._probe = PROBE_PREFIX + uuid.uuid4().hex
        self._cond = threading.Condition()
        self._messages = []
        self._unparsed = []
        self._probe_seen = False
        self._closed = False
        args = [_tool("mosquitto_sub"), "-h", HOST, "-p", str(port), "-q", str(qos),
                "-F", _FORMAT] + _credentials(user, password)
        for topic in self.topics + [self._probe]:
            args += ["-t", topic]
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self._reader = threading.Thread(target=self._read, name="mosquitto-sub", daemon=True)
        self._reader.start()
        try:
            self._wait_subscribed(timeout)
        except BaseException:
            self.stop()
            raise

    def _read(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                match = _LINE.match(line)
                with self._cond:
                    if match is None:
                        self._unparsed.append(line)
                    elif match.group(4) == self._probe:
                        self._probe_seen = True
                    else:
                        retained, qos, payload, topic = match.groups()
                        self._messages.append(Message(topic, bytes.fromhex(payload),
                                                      retained == "1", int(qos)))
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _wait_subscribed(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            client = _RawClient(self.port, self._user, self._password, timeout)
        except OSError as error:
            self._fail("cannot connect to publish the probe: %s" % error, timeout)
        try:
            if client.code != 0:
                with self._cond:  # mosquitto_sub, refused too, says so and exits
                    self._cond.wait_for(lambda: self._closed,
                                        min(2.0, max(0.0, deadline - time.monotonic())))
                self._fail("the broker refused the probe's CONNECT (CONNACK code %d)"
                           % client.code, timeout)
            with self._cond:
                while not self._probe_seen:
                    if self._closed:
                        self._fail("mosquitto_sub exited before it subscribed", timeout)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._fail("mosquitto_sub did not subscribe", timeout)
                    client.publish(self._probe)
                    self._cond.wait(min(0.05, remaining))
        finally:
            client.close()

    def messages(self):
        """Every message received so far, oldest first (the probes left out)."""
        with self._cond:
            return list(self._messages)

    def mark(self):
        """How many messages have arrived so far, to wait only for later ones."""
        with self._cond:
            return len(self._messages)

    def wait_for(self, predicate, timeout=5.0, start=0):
        """The first message at index ``start`` or later for which ``predicate(message)`` is true.

        Fails within ``timeout`` with every message received.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._messages[start:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    break
                self._cond.wait(remaining)
        self._fail("no message matched", timeout)

    def wait_for_topic(self, topic, timeout=5.0, start=0):
        """The first message on ``topic`` at index ``start`` or later."""
        return self.wait_for(lambda message: message.topic == topic, timeout, start)

    def stderr(self):
        """What mosquitto_sub wrote on its standard error so far."""
        if self._stderr.closed:
            return self._stderr_text
        self._stderr.seek(0)
        return _hide(self._stderr.read().decode("utf-8", "replace"), self._password)

    def _fail(self, what, timeout):
        rc = self.proc.poll()
        with self._cond:
            received, unparsed = list(self._messages), list(self._unparsed)
        raise AssertionError(
            "%s within %gs (mosquitto_sub on %s, port %d, %s); received %d message(s):\n%s%s\n"
            "stderr: %s" % (
                what, timeout, self.topics, self.port,
                "running" if rc is None else "exited with status %s" % rc, len(received),
                "\n".join("  %r" % (message,) for message in received),
                "\nunparsed lines: %r" % unparsed if unparsed else "",
                self.stderr().strip() or "(nothing)"))

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        """End mosquitto_sub (SIGTERM, then SIGKILL), its reader thread and its pipes."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            self._reader.join(5)
            self.proc.stdout.close()
            if not self._stderr.closed:
                self._stderr_text = self.stderr()
                self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def retained(port, topic_filter, user=None, password=None, timeout=5.0):
    """The retained messages under ``topic_filter``, as a dict topic -> payload (bytes).

    The broker sends them right after it acknowledges a subscription, so
    all of them have arrived once the Subscriber's probe has come back.
    """
    with Subscriber(port, topic_filter, user, password, timeout=timeout) as subscriber:
        return {message.topic: message.payload
                for message in subscriber.messages() if message.retained}


def publish(port, topic, payload=b"", retain=False, qos=0, user=None, password=None,
            timeout=5.0, check=True):
    """Publish with ``mosquitto_pub``; return its CompletedProcess (text, password hidden).

    ``payload`` is bytes or str. With ``check`` a non-zero exit fails with
    mosquitto_pub's stderr. At QoS 0 mosquitto_pub may exit before the
    broker has read the message; at QoS 1 it waits for the PUBACK.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    args = [_tool("mosquitto_pub"), "-h", HOST, "-p", str(port), "-t", topic, "-q", str(qos)]
    args += _credentials(user, password)
    if retain:
        args.append("-r")
    # -s reads the payload from stdin, any bytes, but refuses an empty one: -n sends that.
    args.append("-s" if payload else "-n")
    done = subprocess.run(args, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    done.args = _hide_argument(done.args, "-P")
    done.stderr = _hide(done.stderr.decode("utf-8", "replace"), password)
    done.stdout = done.stdout.decode("utf-8", "replace")
    if check and done.returncode != 0:
        raise AssertionError("mosquitto_pub to %r on port %d exited with status %d: %s" % (
            topic, port, done.returncode, done.stderr.strip()))
    return done
