"""An installed wheel holds every room of the package and runs from where it is installed.

The wheel is built by the system's Python (``/usr/bin/python3``) with its
setuptools and wheel packages (Debian's python3-setuptools and
python3-wheel, which ``.ci/run`` installs), from a copy of the source tree
so that nothing is written into the repository. It is then unpacked into a
directory of its own, which is what an install does with a pure-Python
wheel, and the daemon's command line is run from there, away from the
source tree.
"""

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

from tests.support.daemon import REPO_ROOT

BUILDER = "/usr/bin/python3"
BUILD = ("import sys; from setuptools import build_meta; "
         "print(build_meta.build_wheel(sys.argv[1]))")


def builder_missing():
    """Why the system Python cannot build a wheel here, or ''."""
    if not os.access(BUILDER, os.X_OK):
        return "%s is not installed" % BUILDER
    check = subprocess.run([BUILDER, "-c", "import setuptools, wheel"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if check.returncode != 0:
        return "python3-setuptools or python3-wheel is not installed (.ci/run installs them)"
    return ""


def package_modules():
    """Every module of the package in the source tree, as paths inside a wheel."""
    found = []
    for folder, folders, files in os.walk(os.path.join(REPO_ROOT, "streamerbrainz")):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.relpath(os.path.join(folder, name), REPO_ROOT)
                found.append(path.replace(os.sep, "/"))
    return sorted(found)


class WheelTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        missing = builder_missing()
        if missing:
            raise unittest.SkipTest(missing)
        cls.work = tempfile.mkdtemp(prefix="sbz-wheel-")
        source = os.path.join(cls.work, "source")
        os.mkdir(source)
        for name in ("setup.cfg", "pyproject.toml", "README.md"):
            shutil.copy(os.path.join(REPO_ROOT, name), source)
        shutil.copytree(os.path.join(REPO_ROOT, "streamerbrainz"),
                        os.path.join(source, "streamerbrainz"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        out = os.path.join(cls.work, "dist")
        os.mkdir(out)
        built = subprocess.run([BUILDER, "-c", BUILD, out], cwd=source,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=120)
        if built.returncode != 0:
            shutil.rmtree(cls.work)
            raise AssertionError("the wheel did not build:\n" + built.stdout[-3000:])
        cls.wheel = os.path.join(out, built.stdout.strip().splitlines()[-1])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def names(self):
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.namelist()

    def test_every_module_of_every_room_is_in_the_wheel(self):
        names = set(self.names())
        self.assertEqual([path for path in package_modules() if path not in names], [])

    def test_nothing_but_the_package_and_its_metadata(self):
        tops = {name.split("/")[0] for name in self.names()}
        self.assertEqual({top for top in tops if not top.endswith(".dist-info")},
                         {"streamerbrainz"})

    def test_the_console_script_names_the_app_room(self):
        with zipfile.ZipFile(self.wheel) as wheel:
            (entry_points,) = [name for name in wheel.namelist()
                               if name.endswith(".dist-info/entry_points.txt")]
            parser = configparser.ConfigParser()
            parser.read_string(wheel.read(entry_points).decode("utf-8"))
        self.assertEqual(parser["console_scripts"]["streamerbrainz"].strip(),
                         "streamerbrainz.app.cli:main")

    def test_the_installed_copy_runs(self):
        target = os.path.join(self.work, "installed")
        with zipfile.ZipFile(self.wheel) as wheel:
            wheel.extractall(target)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": target,
               "PYTHONDONTWRITEBYTECODE": "1"}
        for args in (["-version"], ["-help"]):
            with self.subTest(args=args):
                proc = subprocess.run([sys.executable, "-m", "streamerbrainz"] + args,
                                      cwd=self.work, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, universal_newlines=True,
                                      timeout=30)
                self.assertEqual(proc.returncode, 0, proc.stdout)
        where = subprocess.run(
            [sys.executable, "-c", "import streamerbrainz.app.daemon as d; print(d.__file__)"],
            cwd=self.work, env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=30)
        self.assertTrue(where.stdout.startswith(target), where.stdout)


if __name__ == "__main__":
    unittest.main()
