"""The README's set-up commands, run as written where they can run here.

``sudo`` is dropped (the tests run as whoever runs them), and paths under
``/etc`` and ``/opt`` are moved into a temporary folder; nothing else of
the command changes.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from streamerbrainz.app import config
from tests.support.daemon import (
    MACHINE_ID, REPO_ROOT, Daemon, run_cli, start_stub, write_token)
from tests.support.webhooks import fixture

README = os.path.join(REPO_ROOT, "README.md")


def readme():
    with open(README, encoding="utf-8") as handle:
        return handle.read()


def command_lines(prefix):
    """Every line of the README's ``sh`` code blocks that starts with ``prefix``."""
    lines, block = [], None
    for line in readme().splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            block = fence[3:] if block is None else None
            continue
        if block == "sh" and fence.startswith(prefix):
            lines.append(fence)
    return lines


class PlayersStepTest(unittest.TestCase):
    """Steps 3 to 5: the settings file, the players command and its listing, the start."""

    def settings_file(self, server_url):
        """Step 3 in a temporary /etc: the example installed, its server-url set."""
        (install,) = command_lines("sudo install -m 644 examples/streamerbrainz.conf")
        tmp = tempfile.mkdtemp(prefix="sbz-readme-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = install.split()[-1].replace("/etc", os.path.join(tmp, "etc"), 1)
        os.makedirs(os.path.dirname(path))
        shutil.copyfile(os.path.join(REPO_ROOT, install.split()[-2]), path)
        os.chmod(path, 0o644)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        self.assertIn("\nserver-url = http://plex.home.arpa:32400\n", text)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.replace("http://plex.home.arpa:32400", server_url))
        return path

    def test_the_command_runs_and_prints_what_the_readme_shows(self):
        (command,) = command_lines("sudo python3 -m streamerbrainz players")
        stub = start_stub(self, fixture("sessions_track.xml"))
        token_file = write_token(self)
        settings = self.settings_file(stub.url)
        args = command.split()[4:]
        self.assertEqual(args, ["players", "-plex-token-file", "/etc/streamerbrainz/plex-token"])
        args[2] = token_file
        proc = run_cli(args, env={"STREAMERBRAINZ_CONFIG": settings})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        shown = readme()
        for line in proc.stdout.splitlines():
            general = line.replace(stub.url, "http://plex.home.arpa:32400").replace(
                token_file, "/etc/streamerbrainz/plex-token")
            program = general.strip().partition(" -m streamerbrainz")[0]
            if program and " -m streamerbrainz" in general:
                general = general.replace(program, "python3", 1)
            self.assertIn(general.rstrip(), shown, "the README does not show this line")

    def test_the_daemon_starts_from_the_settings_file(self):
        (command,) = command_lines("sudo python3 -m streamerbrainz -plex-token-file")
        stub = start_stub(self, fixture("sessions_track.xml"))
        token_file = write_token(self)
        settings = self.settings_file(stub.url)
        with open(settings, encoding="utf-8") as handle:
            text = handle.read()
        with open(settings, "w", encoding="utf-8") as handle:  # the line step 4 says to add
            handle.write(text.replace("[plex]\n", "[plex]\nmachine-id = %s\n" % MACHINE_ID, 1))
        args = command.split()[4:]
        self.assertEqual(args, ["-plex-token-file", "/etc/streamerbrainz/plex-token",
                                "-log-level", "debug"])
        args[1] = token_file
        daemon = Daemon(args + ["-webhooks-port", "0", "-webhooks-bind", "127.0.0.1"],
                        env={"STREAMERBRAINZ_CONFIG": settings})
        self.addCleanup(daemon.stop)
        daemon.wait_for_line("settings file read file=%s" % settings, timeout=10)
        daemon.wait_for_line("Plex webhook enabled server=%s machine_id=%s"
                             % (stub.url, MACHINE_ID), timeout=10)

    def test_every_step_that_reads_the_token_file_uses_sudo(self):
        for line in command_lines(""):
            if "/etc/streamerbrainz/plex-token" in line and not line.startswith("#"):
                with self.subTest(line=line):
                    self.assertTrue(line.startswith("sudo") or "install -m 600" in line, line)


class SystemdCopyStepTest(unittest.TestCase):
    """The systemd section's copy works from a checkout anywhere, or in place."""

    def run_step(self, cwd, target):
        (line,) = command_lines('[ "$(pwd -P)" = /opt/streamerbrainz ]')
        line = line.replace("/opt/streamerbrainz", target).replace("sudo ", "")
        return subprocess.run(["sh", "-c", line], cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)

    def test_from_elsewhere_and_from_the_target_itself(self):
        tmp = tempfile.mkdtemp(prefix="sbz-readme-")
        self.addCleanup(shutil.rmtree, tmp, True)
        checkout = os.path.join(tmp, "checkout")
        os.makedirs(os.path.join(checkout, "streamerbrainz"))
        with open(os.path.join(checkout, "streamerbrainz", "__init__.py"), "w"):
            pass
        target = os.path.join(tmp, "opt", "streamerbrainz")
        os.makedirs(os.path.dirname(target))
        proc = self.run_step(checkout, target)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertTrue(os.path.exists(os.path.join(target, "streamerbrainz", "__init__.py")))
        proc = self.run_step(target, target)  # step 1 cloned it there already
        self.assertEqual(proc.returncode, 0, proc.stdout)


class ConfigurationTableTest(unittest.TestCase):

    def test_every_flag_has_a_row(self):
        rows = set(re.findall(r"^\| `-([a-z-]+)` \|", readme(), re.M))
        self.assertEqual(sorted({flag.name for flag in config.FLAGS} - rows), [])


if __name__ == "__main__":
    unittest.main()
