"""The README's configuration table says what the flag table says.

Each row of the table under "## Configuration" is one flag, in the table's
order: its name, its default as a user types it, the commands that take it
and its meaning, which is the flag's help with Markdown's code marks and
links read as plain text. A row that drifts from the flag fails here.
"""

import os
import re
import unittest

from streamerbrainz.app import cli, config
from tests.support.daemon import REPO_ROOT

README = os.path.join(REPO_ROOT, "README.md")
HEADER = ["flag", "default", "commands", "meaning"]


def section(text, title):
    """The text of the ``## title`` section, up to the next heading of its level."""
    match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    if match is None:
        raise AssertionError("the README has no section %r" % title)
    return match.group(1)


def cells(line):
    """A Markdown table row's cells, stripped; ``\\|`` stays inside its cell."""
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def tables(text):
    """Each Markdown table of ``text``: its header's cells, then its rows' cells."""
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            if current is None:
                current = [cells(line)]
                found.append(current)
            elif not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
                current.append(cells(line))
        else:
            current = None
    return found


def plain(markdown):
    """A cell as read: `code` without its marks, [text](target) as its text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"`([^`]*)`", r"\1", text)


def configuration_rows(text):
    """The configuration table's rows, each a dict of the header's names to plain text."""
    for table in tables(section(text, "Configuration")):
        if table[0] and table[0][0] == "flag":
            if table[0] != HEADER:
                raise AssertionError("the configuration table's header is %r, not %r"
                                     % (table[0], HEADER))
            return [dict(zip(HEADER, (plain(cell) for cell in row))) for row in table[1:]]
    raise AssertionError("no configuration table (| flag | default | ...) in the README")


def expected_row(flag):
    """The row the flag table asks for."""
    if flag.action:
        default = ""
    else:
        default = flag.typed_default or '""'
    return {"flag": "-" + flag.name, "default": default,
            "commands": cli.commands_of(flag), "meaning": flag.help}


def drift(text):
    """A line for each way the README's table differs from the flag table."""
    rows = configuration_rows(text)
    problems = []
    by_name = {row["flag"]: row for row in rows}
    names = [row["flag"] for row in rows]
    wanted = ["-" + flag.name for flag in config.FLAGS]
    for name in sorted(set(wanted) - set(names)):
        problems.append("%s: no row" % name)
    for name in sorted(set(names) - set(wanted)):
        problems.append("%s: a row, but no such flag" % name)
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append("%s: more than one row" % name)
    for flag in config.FLAGS:
        row = by_name.get("-" + flag.name)
        if row is None:
            continue
        for column, value in expected_row(flag).items():
            if row[column] != value:
                problems.append("-%s: the %s is %r in the README, %r in the flag table"
                                % (flag.name, column, row[column], value))
    if not problems and names != wanted:
        problems.append("the rows are not in the flag table's order (the order of -help)")
    return problems


def readme():
    with open(README, encoding="utf-8") as handle:
        return handle.read()


TABLE = """## Configuration

Text.

| flag | default | commands | meaning |
| --- | --- | --- | --- |
%s

## Next
"""


class ReadmeFlagTableTest(unittest.TestCase):

    def test_the_readme_table_is_the_flag_table(self):
        self.assertEqual(drift(readme()), [])


class DriftTest(unittest.TestCase):
    """The check itself: a table made from the flags passes; each kind of drift fails."""

    @staticmethod
    def row(flag, **changes):
        values = dict(expected_row(flag), **changes)
        default = "`%s`" % values["default"] if values["default"] else ""
        return "| `%s` | %s | %s | %s |" % (values["flag"], default, values["commands"],
                                             values["meaning"])

    def text(self, rows):
        return TABLE % "\n".join(rows)

    def test_a_table_made_from_the_flags_passes(self):
        self.assertEqual(drift(self.text([self.row(flag) for flag in config.FLAGS])), [])

    def test_each_kind_of_drift_is_named(self):
        flags = list(config.FLAGS)
        port = config.FLAGS_BY_NAME["webhooks-port"]
        timeout = config.FLAGS_BY_NAME["plex-timeout"]
        cases = {
            "default": [self.row(f, default="3002") if f is port else self.row(f) for f in flags],
            "meaning": [self.row(f, meaning="seconds") if f is timeout else self.row(f)
                        for f in flags],
            "commands": [self.row(f, commands="run") if f is timeout else self.row(f)
                         for f in flags],
            "no row": [self.row(f) for f in flags if f is not port],
            "no such flag": [self.row(f) for f in flags] + ["| `-nope` | | run | nothing |"],
            "order": [self.row(f) for f in reversed(flags)],
            "more than one row": [self.row(f) for f in flags] + [self.row(port)],
        }
        for kind, rows in cases.items():
            with self.subTest(kind=kind):
                problems = drift(self.text(rows))
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(kind, problems[0])

    def test_defaults_are_compared_as_typed(self):
        timeout = config.FLAGS_BY_NAME["plex-timeout"]
        rows = [self.row(f, default="5.0") if f is timeout else self.row(f)
                for f in config.FLAGS]
        self.assertEqual(drift(self.text(rows)), [
            "-plex-timeout: the default is '5.0' in the README, '5' in the flag table"])

    def test_markdown_is_read_as_plain_text(self):
        self.assertEqual(plain("`0` picks a [free](#x) one, `a|b`"), "0 picks a free one, a|b")
        self.assertEqual(cells(r"| `-a` | `x\|y` | run | m |"), ["`-a`", "`x|y`", "run", "m"])


if __name__ == "__main__":
    unittest.main()
