"""Tests for the files under examples/ and the packaging metadata.

- examples/get-plex-machine-id.sh runs under busybox sh and under sh (dash)
  against a stand-in Plex server started here, and never shows the token.
- examples/streamerbrainz-plex.service passes `systemd-analyze verify` and
  keeps its `systemd-analyze security` exposure at 2.0 or below.
- The shell scripts parse, and setup.cfg points at real code.

The stand-in server is this file's own, on the tests' one base for stand-in
HTTP servers (tests/support/httpstub.py).
"""

import configparser
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests.support.daemon import clean_env
from tests.support.httpstub import StubServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
SCRIPT = os.path.join(EXAMPLES, "get-plex-machine-id.sh")
UNIT = os.path.join(EXAMPLES, "streamerbrainz-plex.service")
DROP_INS = os.path.join(EXAMPLES, "systemd")
DROP_IN_NAMES = sorted(name for name in os.listdir(DROP_INS) if name.endswith(".conf"))
CI_RUN = os.path.join(REPO, ".ci", "run")

TOKEN = "t0kEn-f0r-7he-s7and-in-XyZ"
MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
RUN_TIMEOUT = 60  # seconds; a hang fails the test instead of blocking CI

SESSIONS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer size="1">
  <Track type="track" sessionKey="53" ratingKey="6260" key="/library/metadata/6260"
         title="Once in a Lifetime" grandparentTitle="Talking Heads"
         parentTitle="Once in a Lifetime: The Best Of" duration="259560" viewOffset="30496">
    <Media id="1" duration="259560"><Part id="1" decision="directplay"/></Media>
    <User id="1" title="owner"/>
    <Player machineIdentifier="bc97b983-8169-47e3-bbcc-54a12d662546" state="playing"
            title="Office" product="Plexamp" platform="Linux" address="192.168.1.20" local="1"/>
    <Session id="abc" bandwidth="1411" location="lan"/>
  </Track>
</MediaContainer>
"""

UNAUTHORIZED = (b"<html><head><title>Unauthorized</title></head>"
                b"<body><h1>401 Unauthorized</h1></body></html>")


class StandInPlex(StubServer):
    """A tiny Plex: GET /status/sessions with the right X-Plex-Token header."""

    extra_headers = (("X-Plex-Protocol", "1.0"),)

    def answer(self, handler, request):
        if request.path != "/status/sessions":
            handler.send_body(404, b"<html><body>404 Not Found</body></html>", "text/html")
        elif request.headers.get("X-Plex-Token") != TOKEN:
            handler.send_body(401, UNAUTHORIZED, "text/html")
        else:
            handler.send_body(200, SESSIONS_XML)


SHIMMED = ("cat", "printf", "echo", "mktemp", "rm", "sed", "dirname", "basename",
           "tee", "head", "tr", "cp", "mv", "chmod", "install", "env", "test", "[", "pwd")


def make_shims(log):
    """A directory of wrappers that append their argv to log, then run the
    real command (or this test's Python, for `python`)."""
    shims = tempfile.mkdtemp(prefix="sb-shims-")
    targets = {name: shutil.which(name) for name in SHIMMED}
    targets["python"] = sys.executable
    for name, real in targets.items():
        if not real:
            continue
        path = os.path.join(shims, name)
        with open(path, "w") as handle:
            handle.write('#!/bin/sh\n'
                         'for arg in "$0" "$@"; do printf "%%s " "$arg"; done >>"%s"\n'
                         'echo >>"%s"\n'
                         'exec "%s" "$@"\n' % (log, log, real))
        os.chmod(path, 0o755)
    return shims


class ScriptTests:
    """Runs examples/get-plex-machine-id.sh under self.shell (a list)."""

    shell = None

    @classmethod
    def setUpClass(cls):
        cls.plex = StandInPlex().start()
        cls.addClassCleanup(cls.plex.stop)

    def setUp(self):
        # A private TMPDIR: the script's mktemp file lands here, so we can
        # check that it is gone afterwards.
        self.tmpdir = tempfile.mkdtemp(prefix="sb-examples-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.argv_log = os.path.join(self.tmpdir, "..", os.path.basename(self.tmpdir) + ".argv")
        self.argv_log = os.path.normpath(self.argv_log)
        self.addCleanup(lambda: os.path.exists(self.argv_log) and os.remove(self.argv_log))
        self.shims = make_shims(self.argv_log)
        self.addCleanup(shutil.rmtree, self.shims, True)

    def run_script(self, *args, cwd=None, script=SCRIPT, **env):
        # No stray settings, no token nor module path of the caller's.
        env = clean_env(dict(env, TMPDIR=self.tmpdir), drop=("PLEX_TOKEN", "PYTHONPATH"))
        # Every command the script starts through PATH, and Python itself,
        # goes through a shim that logs its argv.
        env["PATH"] = self.shims + os.pathsep + env.get("PATH", os.defpath)
        env["PYTHON"] = os.path.join(self.shims, "python")
        return subprocess.run(
            self.shell + [script] + list(args), cwd=cwd or self.tmpdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=RUN_TIMEOUT, universal_newlines=True)

    def assert_lists_office(self, proc):
        report = "exit %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout, proc.stderr)
        self.assertEqual(proc.returncode, 0, report)
        self.assertIn(MACHINE_ID, proc.stdout, report)
        self.assertIn("-plex-machine-id", proc.stdout, report)
        self.assertIn("Office", proc.stdout, report)
        self.assertIn("Plexamp", proc.stdout, report)
        self.assert_token_hidden(proc)

    def assert_token_hidden(self, proc):
        self.assertNotIn(TOKEN, proc.stdout)
        self.assertNotIn(TOKEN, proc.stderr)
        # The temporary token file is removed, and its (dead) path is not
        # offered in the suggested command line.
        self.assertEqual(os.listdir(self.tmpdir), [])
        self.assertNotIn(self.tmpdir, proc.stdout)

    def assert_token_not_in_argv(self):
        """No command the script ran had the token in its arguments."""
        with open(self.argv_log, encoding="utf-8", errors="replace") as handle:
            logged = handle.read()
        self.assertIn("-plex-token-file", logged)  # the shims did see Python
        self.assertNotIn(TOKEN, logged, "the token is on a command line")

    def test_token_as_argument_host_port(self):
        host_port = self.plex.url[len("http://"):]
        proc = self.run_script(host_port, TOKEN)
        self.assert_lists_office(proc)
        self.assertIn(self.plex.url, proc.stdout)  # http:// was added
        # Only the script's own argv holds it (the documented interface);
        # whatever it starts, Python included, does not.
        self.assert_token_not_in_argv()

    def test_token_from_file(self):
        keydir = tempfile.mkdtemp(prefix="sb-token-")
        self.addCleanup(shutil.rmtree, keydir, True)
        token_file = os.path.join(keydir, "plex-token")
        with open(token_file, "w") as handle:
            handle.write(TOKEN + "\n")
        proc = self.run_script(self.plex.url, token_file)
        self.assert_lists_office(proc)
        self.assertIn(token_file, proc.stdout)  # a real file is worth naming
        self.assert_token_not_in_argv()

    def test_token_from_environment(self):
        proc = self.run_script(self.plex.url + "/", PLEX_TOKEN=TOKEN)
        self.assert_lists_office(proc)
        self.assert_token_not_in_argv()

    def test_relative_script_path_from_examples_dir(self):
        # cwd examples/ does not make the package importable by itself:
        # the script must set PYTHONPATH from its own location.
        proc = self.run_script(self.plex.url, cwd=EXAMPLES,
                               script="./get-plex-machine-id.sh", PLEX_TOKEN=TOKEN)
        self.assert_lists_office(proc)

    def test_wrong_token_exits_1(self):
        proc = self.run_script(self.plex.url, "not-" + TOKEN)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertTrue(proc.stderr.strip(), "an error line on stderr")
        self.assertNotIn(TOKEN, proc.stdout + proc.stderr)
        self.assertEqual(os.listdir(self.tmpdir), [])

    def test_a_path_that_is_no_file_is_named_not_sent_as_a_token(self):
        typo = os.path.join(self.tmpdir, "etc", "streamerbrainz", "plex-tokn")
        before = len(self.plex.requests)
        proc = self.run_script(self.plex.url, typo)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(typo + ": no such file", proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertEqual(len(self.plex.requests), before, "the path went to Plex as a token")

    def test_missing_token_prints_usage_and_exits_2(self):
        proc = self.run_script(self.plex.url)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage", proc.stderr.lower())
        self.assertEqual(proc.stdout, "")

    def test_no_arguments_prints_usage_and_exits_2(self):
        proc = self.run_script(PLEX_TOKEN=TOKEN)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage", proc.stderr.lower())
        self.assertNotIn(TOKEN, proc.stdout + proc.stderr)


class BusyboxScriptTest(ScriptTests, unittest.TestCase):
    shell = ["busybox", "sh"]

    def setUp(self):
        if not shutil.which("busybox"):
            self.skipTest("busybox is not installed (.ci/run installs it)")
        super().setUp()


class DashScriptTest(ScriptTests, unittest.TestCase):
    shell = ["sh"]

    def setUp(self):
        if not shutil.which("sh"):
            self.skipTest("no sh on PATH")
        super().setUp()


class ShellSyntaxTest(unittest.TestCase):
    def check(self, shell, path):
        if not shutil.which(shell[0]):
            self.skipTest("%s is not installed" % shell[0])
        proc = subprocess.run(shell + ["-n", path], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=RUN_TIMEOUT)
        self.assertEqual(proc.returncode, 0, proc.stdout)

    def test_script_parses_in_sh(self):
        self.check(["sh"], SCRIPT)

    def test_script_parses_in_busybox_sh(self):
        self.check(["busybox", "sh"], SCRIPT)

    def test_script_parses_in_bash(self):
        self.check(["bash"], SCRIPT)

    def test_ci_run_parses_in_bash(self):
        self.check(["bash"], CI_RUN)

    def test_scripts_are_executable(self):
        for path in (SCRIPT, CI_RUN):
            self.assertTrue(os.access(path, os.X_OK), "%s is not executable" % path)
        with open(SCRIPT) as handle:
            self.assertEqual(handle.readline().strip(), "#!/bin/sh")


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.analyze = shutil.which("systemd-analyze")
        if not self.analyze:
            self.skipTest("systemd-analyze is not installed")
        # Installed as streamerbrainz.service; analyse it under that name.
        tmpdir = tempfile.mkdtemp(prefix="sb-unit-")
        self.addCleanup(shutil.rmtree, tmpdir, True)
        self.unit = os.path.join(tmpdir, "streamerbrainz.service")
        shutil.copyfile(UNIT, self.unit)

    def analyze_run(self, *args, unit_path=None):
        env = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")
        if unit_path:
            env["SYSTEMD_UNIT_PATH"] = unit_path
        proc = subprocess.run([self.analyze] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=RUN_TIMEOUT)
        return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
                proc.stderr.decode("utf-8", "replace"))

    def analyze_with(self, drop_ins, *args):
        """Run systemd-analyze on the unit as installed with ``drop_ins`` beside it."""
        tmpdir = tempfile.mkdtemp(prefix="sb-dropins-")
        self.addCleanup(shutil.rmtree, tmpdir, True)
        shutil.copyfile(UNIT, os.path.join(tmpdir, "streamerbrainz.service"))
        os.mkdir(os.path.join(tmpdir, "streamerbrainz.service.d"))
        for name in drop_ins:
            shutil.copyfile(os.path.join(DROP_INS, name),
                            os.path.join(tmpdir, "streamerbrainz.service.d", name))
        # The folder first, then systemd's own (the trailing colon).
        return self.analyze_run(*args, "streamerbrainz.service",
                                unit_path=tmpdir + os.pathsep)

    def assert_verify_silent(self, code, out, err):
        lines = (out + err).splitlines()
        missing = [path for path in ("/usr/bin/python3", "/usr/local/bin/streamerbrainz")
                   if not os.access(path, os.X_OK)]
        # Only this machine's lack of the program, not the unit's fault.
        lines = [line for line in lines if not any(path in line for path in missing)]
        self.assertEqual(lines, [], "systemd-analyze verify complained")
        if not missing:
            self.assertEqual(code, 0)

    def test_verify_is_silent(self):
        self.assert_verify_silent(*self.analyze_run("verify", self.unit))

    def test_verify_is_silent_with_each_drop_in(self):
        for drop_ins in [[name] for name in DROP_IN_NAMES] + [["gpio.conf", "alsa.conf"]]:
            with self.subTest(drop_ins=drop_ins):
                self.assert_verify_silent(*self.analyze_with(drop_ins, "verify"))

    def test_each_drop_in_keeps_the_exposure_at_most_2(self):
        for drop_ins in [[name] for name in DROP_IN_NAMES] + [["gpio.conf", "alsa.conf"]]:
            with self.subTest(drop_ins=drop_ins):
                code, out, err = self.analyze_with(drop_ins, "security", "--offline=yes",
                                                   "--no-pager")
                if code != 0 and "offline" in err:
                    self.skipTest("systemd-analyze security has no --offline (systemd < 250)")
                match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
                self.assertIsNotNone(match, out + err)
                self.assertLessEqual(float(match.group(1)), 2.0, out)

    def test_security_exposure_at_most_2(self):
        code, out, err = self.analyze_run("security", "--offline=yes", "--no-pager", self.unit)
        if code != 0 and "offline" in err:
            self.skipTest("systemd-analyze security has no --offline (systemd < 250)")
        match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
        self.assertIsNotNone(match, "no overall exposure in:\n" + out + err)
        self.assertLessEqual(float(match.group(1)), 2.0, out)


class PackagingTest(unittest.TestCase):
    """setup.cfg names code that exists (no build needed)."""

    def setUp(self):
        self.cfg = configparser.ConfigParser()
        self.assertTrue(self.cfg.read(os.path.join(REPO, "setup.cfg")))

    def test_version_attr(self):
        self.assertEqual(self.cfg["metadata"]["version"].strip(),
                         "attr: streamerbrainz.__version__")
        import streamerbrainz
        self.assertRegex(streamerbrainz.__version__, r"^\d+\.\d+")

    def test_console_script_target(self):
        scripts = self.cfg["options.entry_points"]["console_scripts"].strip().splitlines()
        self.assertEqual(scripts, ["streamerbrainz = streamerbrainz.app.cli:main"])
        module = importlib.import_module("streamerbrainz.app.cli")
        self.assertTrue(callable(module.main))


if __name__ == "__main__":
    unittest.main()
