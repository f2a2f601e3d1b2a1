"""The agent's tools inside the container: str_replace_editor cases and messages (SWE-agent wording), submit."""

from __future__ import annotations

import os

import pytest

from srl_agent.actions import Action

pytestmark = pytest.mark.docker


def ed(sb, command, path, **kw):
    return sb.execute(Action.editor(command, path, **kw))


def test_view_file_numbers_lines_like_cat_n(sb):
    obs = ed(sb, "view", "/testbed/notes.txt")
    assert obs.exit_code == 0
    assert obs.output.startswith("Here's the result of running `cat -n` on /testbed/notes.txt:\n")
    assert "     1\tline1\n     2\tline2\n     3\tline3\n" in obs.output


def test_view_range_and_its_errors(sb):
    obs = ed(sb, "view", "/testbed/notes.txt", view_range="[2, 3]")
    assert "     2\tline2\n     3\tline3" in obs.output and "line1" not in obs.output
    assert "     3\tline3" in ed(sb, "view", "/testbed/notes.txt", view_range="[3, -1]").output
    bad_first = ed(sb, "view", "/testbed/notes.txt", view_range="[9, 10]")
    assert bad_first.exit_code == 1 and "Its first element `9` should be within the range of lines" in bad_first.output
    bad_order = ed(sb, "view", "/testbed/notes.txt", view_range="[3, 2]")
    assert "should be larger or equal than its first `3`" in bad_order.output
    assert "should be a list of two integers" in ed(sb, "view", "/testbed/notes.txt", view_range="[1]").output


def test_view_directory_lists_two_levels_without_hidden(sb):
    obs = ed(sb, "view", "/testbed")
    assert obs.output.startswith("Here's the files and directories up to 2 levels deep in /testbed, excluding hidden")
    assert "/testbed/pkg/calc.py" in obs.output and "/testbed/pkg/sub" in obs.output
    assert "deep.txt" not in obs.output and ".hidden" not in obs.output and ".git" not in obs.output


def test_create_and_create_over_existing(sb):
    obs = ed(sb, "create", "/testbed/new/mod.py", file_text="A = 1\n")
    assert obs.exit_code == 0 and obs.output == "File created successfully at: /testbed/new/mod.py"
    assert sb.read_file("/testbed/new/mod.py") == "A = 1\n"
    again = ed(sb, "create", "/testbed/new/mod.py", file_text="B = 2\n")
    assert again.exit_code == 1
    assert again.output == ("File already exists at: /testbed/new/mod.py. Cannot overwrite files using command "
                            "`create`.")
    assert sb.run("stat -c %U /testbed/new/mod.py").output == "agent\n"


def test_str_replace_exactly_once(sb):
    obs = ed(sb, "str_replace", "/testbed/pkg/calc.py", old_str="return a + b", new_str="return a - b")
    assert obs.exit_code == 0 and obs.output.startswith("The file /testbed/pkg/calc.py has been edited. ")
    assert "     2\t    return a - b" in obs.output and "Review the changes" in obs.output
    assert sb.read_file("pkg/calc.py") == "def add(a, b):\n    return a - b\n"


def test_str_replace_no_match_message(sb):
    obs = ed(sb, "str_replace", "/testbed/pkg/calc.py", old_str="nope", new_str="x")
    assert obs.exit_code == 1
    assert obs.output == ("No replacement was performed, old_str `nope` did not appear verbatim in "
                          "/testbed/pkg/calc.py.")


def test_str_replace_multiple_matches_message(sb):
    obs = ed(sb, "str_replace", "/testbed/pkg/dup.py", old_str="x = 1", new_str="x = 9")
    assert obs.exit_code == 1
    assert obs.output == ("No replacement was performed. Multiple occurrences of old_str `x = 1` in lines [1, 3]. "
                          "Please ensure it is unique")
    assert sb.read_file("pkg/dup.py") == "x = 1\ny = 2\nx = 1\n"


def test_insert_and_invalid_insert_line(sb):
    obs = ed(sb, "insert", "/testbed/notes.txt", insert_line="1", new_str="inserted")
    assert obs.exit_code == 0 and "has been edited" in obs.output and "     2\tinserted" in obs.output
    assert sb.read_file("notes.txt") == "line1\ninserted\nline2\nline3\n"
    bad = ed(sb, "insert", "/testbed/notes.txt", insert_line="99", new_str="x")
    assert bad.exit_code == 1
    assert bad.output == ("Invalid `insert_line` parameter: 99. It should be within the range of lines of the file: "
                          "[0, 5]")


def test_undo_edit_walks_back_per_file_history(sb):
    assert ed(sb, "undo_edit", "/testbed/notes.txt").output == "No edit history found for /testbed/notes.txt."
    ed(sb, "str_replace", "/testbed/notes.txt", old_str="line1", new_str="first")
    ed(sb, "str_replace", "/testbed/notes.txt", old_str="line2", new_str="second")
    obs = ed(sb, "undo_edit", "/testbed/notes.txt")
    assert obs.exit_code == 0 and obs.output.startswith("Last edit to /testbed/notes.txt undone successfully.")
    assert sb.read_file("notes.txt") == "first\nline2\nline3\n"
    ed(sb, "undo_edit", "/testbed/notes.txt")
    assert sb.read_file("notes.txt") == "line1\nline2\nline3\n"


def test_path_errors(sb):
    rel = ed(sb, "view", "testbed/notes.txt")
    assert rel.output == ("The path testbed/notes.txt is not an absolute path, it should start with `/`. Maybe you "
                          "meant /testbed/notes.txt?")
    missing = ed(sb, "view", "/testbed/missing.py")
    assert missing.output == "The path /testbed/missing.py does not exist. Please provide a valid path."
    on_dir = ed(sb, "str_replace", "/testbed/pkg", old_str="a", new_str="b")
    assert on_dir.output == ("The path /testbed/pkg is a directory and only the `view` command can be used on "
                             "directories")
    assert "Parameter `old_str` is required" in ed(sb, "str_replace", "/testbed/notes.txt").output


def test_editor_keeps_special_text_and_non_utf8_bytes(sb):
    text = "quote ' \" $x `cmd` \\n tab\t unicode é 中\n__SRL_EDITOR_ARGS__\nEOF\n"
    ed(sb, "create", "/testbed/special.txt", file_text=text)
    assert sb.read_file("special.txt") == text
    sb.run("printf 'a\\xffb\\n' > /testbed/latin.txt")
    ed(sb, "str_replace", "/testbed/latin.txt", old_str="b", new_str="c")
    assert sb.run("od -An -c /testbed/latin.txt").output.split() == ["a", "377", "c", "\\n"]


def test_tools_never_touch_the_host(sb, tmp_path):
    target = tmp_path / "from_sandbox.txt"
    ed(sb, "create", str(target), file_text="inside\n")
    sb.write_file(str(target) + ".2", "inside\n")
    assert not target.exists() and not os.path.exists(str(target) + ".2")
    assert sb.read_file(str(target)) == "inside\n"


def test_bash_and_submit_actions(sb):
    assert sb.execute(Action.bash("echo via-action")).output == "via-action\n"
    ed(sb, "str_replace", "/testbed/pkg/calc.py", old_str="a + b", new_str="b + a")
    patch = sb.execute(Action.submit())
    assert patch.exit_code == 0 and patch.output == sb.diff()
    assert "-    return a + b\n+    return b + a\n" in patch.output
    unknown = sb.execute(Action("browser", {}))
    assert unknown.exit_code == 1 and "unknown tool" in unknown.output
