"""The README's hook examples work under the unit we ship, with the drop-in it names.

For each script in ``examples/hooks/`` the test finds the device programs
it runs, the drop-ins its row of the README's examples table names, and
merges the unit with those drop-ins as systemd does; it fails when the
sandbox that results would refuse the device or the group the program needs.
"""

import os
import re
import unittest

from tests.support.daemon import REPO_ROOT

EXAMPLES = os.path.join(REPO_ROOT, "examples")
UNIT = os.path.join(EXAMPLES, "streamerbrainz-plex.service")
README = os.path.join(REPO_ROOT, "README.md")

# program: (device class in /proc/devices, device path prefix, group owning the devices)
DEVICE_PROGRAMS = {
    "gpioset": ("gpiochip", "/dev/gpiochip", "gpio"),
    "amixer": ("alsa", "/dev/snd/", "audio"),
}
LIST_KEYS = ("DeviceAllow", "SupplementaryGroups")


def service_settings(paths):
    """The [Service] settings of a unit and its drop-ins, merged in order as systemd does.

    A list setting accumulates and an empty assignment resets it; any other
    setting takes its last value.
    """
    settings = {key: [] for key in LIST_KEYS}
    for path in paths:
        section = None
        with open(path, encoding="utf-8") as handle:
            for raw in handle:
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("["):
                    section = line
                    continue
                if section != "[Service]" or "=" not in line:
                    continue
                key, _, value = (part.strip() for part in line.partition("="))
                if key in LIST_KEYS:
                    if not value:
                        settings[key] = []
                    elif key == "SupplementaryGroups":
                        settings[key] += value.split()
                    else:
                        settings[key].append(value.split()[0])
                else:
                    settings[key] = value
    return settings


def yes(value):
    return str(value).lower() in ("1", "yes", "true", "on")


def refusals(settings, program):
    """Why the sandbox ``settings`` make would refuse ``program``'s device; empty if none."""
    device_class, prefix, group = DEVICE_PROGRAMS[program]
    problems = []
    if yes(settings.get("PrivateDevices", "no")):
        problems.append("PrivateDevices=yes hides %s*" % prefix)
    allowed = settings["DeviceAllow"]
    policy = settings.get("DevicePolicy", "auto")
    if policy != "auto" or allowed:
        if not any(entry == "char-" + device_class or entry.startswith(prefix)
                   for entry in allowed):
            problems.append("DeviceAllow= does not allow char-%s (DevicePolicy=%s)"
                            % (device_class, policy))
    if group not in settings["SupplementaryGroups"]:
        problems.append("the %s group is not among SupplementaryGroups=" % group)
    elif yes(settings.get("PrivateUsers", "no")):
        problems.append("PrivateUsers=yes: the %s group does not count" % group)
    return problems


def programs_run_by(script):
    with open(script, encoding="utf-8") as handle:
        code = "\n".join(line for line in handle if not line.lstrip().startswith("#"))
    return sorted(name for name in DEVICE_PROGRAMS if re.search(r"\b%s\b" % name, code))


def drop_ins_named_for(script_name):
    """The drop-ins the README's examples table names in the row of ``script_name``."""
    with open(README, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("| `%s` |" % script_name):
                return re.findall(r"examples/systemd/([\w.-]+\.conf)", line)
    raise AssertionError("the README's examples table has no row for %s" % script_name)


class HookDevicesTest(unittest.TestCase):

    def test_every_device_hook_works_under_the_unit_with_its_drop_in(self):
        hooks = os.path.join(EXAMPLES, "hooks")
        checked = 0
        for name in sorted(os.listdir(hooks)):
            programs = programs_run_by(os.path.join(hooks, name))
            drop_ins = drop_ins_named_for(name)
            paths = [UNIT] + [os.path.join(EXAMPLES, "systemd", d) for d in drop_ins]
            for path in paths:
                self.assertTrue(os.path.isfile(path), "%s names %s, which is not there"
                                % (name, path))
            settings = service_settings(paths)
            for program in programs:
                with self.subTest(script=name, program=program):
                    self.assertEqual(refusals(settings, program), [],
                                     "%s runs %s; with %s it cannot reach its device"
                                     % (name, program, drop_ins or "no drop-in"))
                    checked += 1
        self.assertGreaterEqual(checked, 2, "no device hook found among the examples")

    def test_the_unit_alone_refuses_them(self):
        # The rule itself: the hardened unit reaches no device.
        settings = service_settings([UNIT])
        for program in DEVICE_PROGRAMS:
            self.assertNotEqual(refusals(settings, program), [], program)

    def test_a_drop_in_for_the_wrong_hardware_is_not_enough(self):
        settings = service_settings([UNIT, os.path.join(EXAMPLES, "systemd", "alsa.conf")])
        self.assertEqual(refusals(settings, "amixer"), [])
        self.assertNotEqual(refusals(settings, "gpioset"), [])


if __name__ == "__main__":
    unittest.main()
