"""The import rule between the package's rooms, read from the source with ``ast``.

``app`` may import any room and no room imports ``app``; ``core`` imports
only ``lib``; ``lib`` only the standard library; the other rooms import
``core`` and ``lib`` and never each other. Every ``__init__.py`` is empty,
so that a room costs nothing until a module of it is imported. Nothing
under the package imports a third-party module.
"""

import ast
import os
import sys
import tempfile
import unittest

from tests.support.daemon import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "streamerbrainz")
ARCHITECTURE = os.path.join(REPO_ROOT, "docs", "ARCHITECTURE.md")
# Every other room (plex, web, hooks, and each one to come) may import core and lib.
ALLOWED = {
    "core": {"lib"},
    "lib": set(),
}
DEFAULT_ALLOWED = {"core", "lib"}


def rooms(root=REPO_ROOT):
    """The sub-packages of the package: its rooms."""
    package = os.path.join(root, "streamerbrainz")
    return sorted(name for name in os.listdir(package)
                  if os.path.isfile(os.path.join(package, name, "__init__.py")))


def allowed_rooms(room):
    """The rooms that ``room`` may import; ``*`` for any (only app)."""
    if room == "app":
        return {"*"}
    return ALLOWED.get(room, DEFAULT_ALLOWED) | {room}


def modules(root=REPO_ROOT):
    """(path, dotted module name) for every module of the package under ``root``."""
    for folder, _, files in os.walk(os.path.join(root, "streamerbrainz")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                if relative.endswith(".__init__"):
                    relative = relative[:-len(".__init__")]
                yield path, relative


def imported(path, module):
    """(line, dotted name) of every module that ``path`` imports, relative ones resolved."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base == "streamerbrainz":
                for alias in node.names:  # ``from streamerbrainz import core``
                    yield node.lineno, "streamerbrainz." + alias.name
            else:
                yield node.lineno, base


def room_of(module):
    """The room of a dotted name under the package, '' for the package's own top."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1].startswith("_"):
        return ""  # streamerbrainz, streamerbrainz.__version__, streamerbrainz.__main__
    return parts[1]


def violations(root=REPO_ROOT):
    found = []
    stdlib = getattr(sys, "stdlib_module_names", None)
    for path, module in modules(root):
        room = room_of(module)
        for line, name in imported(path, module):
            where = "%s:%d" % (os.path.relpath(path, root), line)
            top = name.split(".")[0]
            if top != "streamerbrainz":
                if stdlib is not None and top not in stdlib:
                    found.append("%s: %s is not in the standard library" % (where, name))
                continue
            target = room_of(name)
            if not target:
                continue  # streamerbrainz itself: __version__
            if room and "*" not in allowed_rooms(room) and target not in allowed_rooms(room):
                found.append("%s: %s imports %s (%s may import %s)" % (
                    where, room, name, room, ", ".join(sorted(allowed_rooms(room) - {room}))
                    or "nothing of the package"))
            if not room and target != "app":
                found.append("%s: the package's top imports %s; only app may be" % (where, name))
    return found


class ImportRuleTest(unittest.TestCase):
    def test_no_import_crosses_the_rooms_rule(self):
        self.assertEqual(violations(), [])

    def test_every_room_is_in_the_architecture_document(self):
        present = set(rooms())
        self.assertLessEqual({"app", "core", "plex", "web", "hooks", "lib"}, present)
        with open(ARCHITECTURE, encoding="utf-8") as handle:
            text = handle.read()
        self.assertEqual([room for room in sorted(present) if "  %s/ " % room not in text], [])

    def test_every_sub_package_init_is_empty(self):
        for path, module in modules():
            if path.endswith("__init__.py") and module != "streamerbrainz":
                with open(path, encoding="utf-8") as handle:
                    self.assertEqual(handle.read().strip(), "", path)

    def test_the_rule_catches_each_kind_of_crossing(self):
        """A tree that breaks each line once: every break is named with its file and line."""
        sources = {
            "hooks/runners.py": "from streamerbrainz.web import live\n",
            "core/keeper.py": "import json\nfrom streamerbrainz.plex import client\n",
            "lib/log.py": "from streamerbrainz.core import track\n",
            "web/routes.py": "from streamerbrainz.app import config\n",
            "plex/client.py": "from ..hooks import runners\nfrom streamerbrainz.core import track\n",
            "app/daemon.py": "from streamerbrainz.web import routes\n",
        }
        with tempfile.TemporaryDirectory() as root:
            for name, text in sources.items():
                path = os.path.join(root, "streamerbrainz", name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            found = sorted(violations(root))
        self.assertEqual([line.split(": ")[0] for line in found], [
            "streamerbrainz/core/keeper.py:2", "streamerbrainz/hooks/runners.py:1",
            "streamerbrainz/lib/log.py:1", "streamerbrainz/plex/client.py:1",
            "streamerbrainz/web/routes.py:1"])


if __name__ == "__main__":
    unittest.main()
