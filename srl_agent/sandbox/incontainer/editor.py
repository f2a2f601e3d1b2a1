"""str_replace_editor, run inside the sandbox container: view/create/str_replace/insert/undo_edit with SWE-agent's messages.

The root supervisor calls `serve(args)` in a forked child that has dropped to the agent user (so every file is
read and written with the agent's own permissions); run as a script it reads one JSON object on stdin, prints
the observation and exits 0 on success, 1 on an error the agent caused. Stdlib only, Python 3.6+.

Every file access goes through a files object (`OsFiles` here), so the host's in-memory `FakeRuntime`
(srl_agent/sandbox/fake.py) runs this same editor, with the same messages, on its own files.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys

SNIPPET_LINES = 4
HISTORY_DIR = "/tmp/.srl_editor_history"
COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")
ENC = dict(encoding="utf-8", errors="surrogateescape")  # byte-exact round trip of non-UTF-8 files


class ToolError(Exception):
    pass


class OsFiles(object):
    """The real file system; the edit history lives in HISTORY_DIR (the sandbox's reset clears /tmp)."""

    def read(self, path):
        with open(path, **ENC) as f:
            return f.read()

    def write(self, path, text):
        with open(path, "w", **ENC) as f:
            f.write(text)

    def exists(self, path):
        return os.path.exists(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def makedirs(self, path):
        os.makedirs(path, exist_ok=True)

    def listing(self, path):
        """What `find PATH -maxdepth 2 -not -path '*/.*'` prints, one path a line, sorted."""
        out = subprocess.run(["find", path, "-maxdepth", "2", "-not", "-path", "*/.*"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return sorted(out.stdout.decode("utf-8", "replace").splitlines())

    def push_history(self, path, old):
        os.makedirs(HISTORY_DIR, exist_ok=True)
        hist = self._load(path)
        hist.append(base64.b64encode(old.encode("utf-8", "surrogateescape")).decode("ascii"))
        self._save(path, hist)

    def pop_history(self, path):
        """The text before the last edit of `path` (dropped from the history), or None when there is none."""
        hist = self._load(path)
        if not hist:
            return None
        old = base64.b64decode(hist.pop()).decode("utf-8", "surrogateescape")
        self._save(path, hist)
        return old

    def _load(self, path):
        try:
            with open(history_file(path)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return []

    def _save(self, path, hist):
        with open(history_file(path), "w") as f:
            json.dump(hist, f)


OS = OsFiles()


def numbered(content, descriptor, init_line=1):
    lines = content.split("\n")
    body = "\n".join("%6d\t%s" % (i + init_line, line) for i, line in enumerate(lines))
    return "Here's the result of running `cat -n` on %s:\n%s\n" % (descriptor, body)


def history_file(path):
    return os.path.join(HISTORY_DIR, hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest() + ".json")


def validate_path(command, path, fs=OS):
    if not os.path.isabs(path):
        suggested = os.path.join("/", path)
        raise ToolError("The path %s is not an absolute path, it should start with `/`. Maybe you meant %s?"
                        % (path, suggested))
    if not fs.exists(path) and command != "create":
        raise ToolError("The path %s does not exist. Please provide a valid path." % path)
    if fs.exists(path) and command == "create":
        raise ToolError("File already exists at: %s. Cannot overwrite files using command `create`." % path)
    if fs.isdir(path) and command != "view":
        raise ToolError("The path %s is a directory and only the `view` command can be used on directories" % path)


def parse_range(raw):
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = raw.strip("[]() ").replace(",", " ").split()
    try:
        rng = [int(x) for x in raw]
    except (TypeError, ValueError):
        raise ToolError("Invalid `view_range`. It should be a list of two integers.")
    if len(rng) != 2:
        raise ToolError("Invalid `view_range`. It should be a list of two integers.")
    return rng


def view(path, view_range, fs=OS):
    if fs.isdir(path):
        if view_range:
            raise ToolError("The `view_range` parameter is not allowed when `path` points to a directory.")
        listing = "\n".join(fs.listing(path))
        return ("Here's the files and directories up to 2 levels deep in %s, excluding hidden items:\n%s\n"
                % (path, listing))
    content = fs.read(path)
    init_line = 1
    if view_range:
        lines = content.split("\n")
        n = len(lines)
        first, last = view_range
        if first < 1 or first > n:
            raise ToolError("Invalid `view_range`: %s. Its first element `%d` should be within the range of lines "
                            "of the file: %s" % (view_range, first, [1, n]))
        if last > n:
            raise ToolError("Invalid `view_range`: %s. Its second element `%d` should be smaller than the number "
                            "of lines in the file: `%d`" % (view_range, last, n))
        if last != -1 and last < first:
            raise ToolError("Invalid `view_range`: %s. Its second element `%d` should be larger or equal than its "
                            "first `%d`" % (view_range, last, first))
        content = "\n".join(lines[first - 1:] if last == -1 else lines[first - 1:last])
        init_line = first
    return numbered(content, path, init_line)


def create(path, file_text, fs=OS):
    if file_text is None:
        raise ToolError("Parameter `file_text` is required for command: create")
    parent = os.path.dirname(path)
    if parent:
        fs.makedirs(parent)
    fs.write(path, file_text)
    fs.push_history(path, "")
    return "File created successfully at: %s" % path


def str_replace(path, old_str, new_str, fs=OS):
    if old_str is None:
        raise ToolError("Parameter `old_str` is required for command: str_replace")
    new_str = new_str or ""
    content = fs.read(path)
    count = content.count(old_str)
    if count == 0:
        raise ToolError("No replacement was performed, old_str `%s` did not appear verbatim in %s."
                        % (old_str, path))
    if count > 1:
        lines, start = [], 0
        while True:
            idx = content.find(old_str, start)
            if idx < 0:
                break
            lines.append(content.count("\n", 0, idx) + 1)
            start = idx + 1
        raise ToolError("No replacement was performed. Multiple occurrences of old_str `%s` in lines %s. "
                        "Please ensure it is unique" % (old_str, lines))
    new_content = content.replace(old_str, new_str)
    fs.write(path, new_content)
    fs.push_history(path, content)
    replacement_line = content.split(old_str)[0].count("\n")
    start_line = max(0, replacement_line - SNIPPET_LINES)
    end_line = replacement_line + SNIPPET_LINES + new_str.count("\n")
    snippet = "\n".join(new_content.split("\n")[start_line:end_line + 1])
    return ("The file %s has been edited. " % path + numbered(snippet, "a snippet of %s" % path, start_line + 1)
            + "Review the changes and make sure they are as expected. Edit the file again if necessary.")


def insert(path, insert_line, new_str, fs=OS):
    if insert_line is None or insert_line == "":
        raise ToolError("Parameter `insert_line` is required for command: insert")
    if new_str is None:
        raise ToolError("Parameter `new_str` is required for command: insert")
    content = fs.read(path)
    lines = content.split("\n")
    n = len(lines)
    try:
        line = int(insert_line)
    except (TypeError, ValueError):
        line = -1
    if line < 0 or line > n:
        raise ToolError("Invalid `insert_line` parameter: %s. It should be within the range of lines of the "
                        "file: %s" % (insert_line, [0, n]))
    new_lines = new_str.split("\n")
    new_content = "\n".join(lines[:line] + new_lines + lines[line:])
    fs.write(path, new_content)
    fs.push_history(path, content)
    snippet_lines = lines[max(0, line - SNIPPET_LINES):line] + new_lines + lines[line:line + SNIPPET_LINES]
    snippet = "\n".join(snippet_lines)
    return ("The file %s has been edited. " % path
            + numbered(snippet, "a snippet of the edited file", max(1, line - SNIPPET_LINES + 1))
            + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, "
              "etc). Edit the file again if necessary.")


def undo_edit(path, fs=OS):
    old = fs.pop_history(path)
    if old is None:
        raise ToolError("No edit history found for %s." % path)
    fs.write(path, old)
    return "Last edit to %s undone successfully. %s" % (path, numbered(old, path))


def run(args, fs=OS):
    command = args.get("command")
    path = args.get("path") or ""
    if command not in COMMANDS:
        raise ToolError("Unrecognized command %s. The allowed commands for the str_replace_editor tool are: %s"
                        % (command, ", ".join(COMMANDS)))
    validate_path(command, path, fs)
    if command == "view":
        return view(path, parse_range(args.get("view_range")), fs)
    if command == "create":
        return create(path, args.get("file_text"), fs)
    if command == "str_replace":
        return str_replace(path, args.get("old_str"), args.get("new_str"), fs)
    if command == "insert":
        return insert(path, args.get("insert_line"), args.get("new_str"), fs)
    return undo_edit(path, fs)


def serve(args, fs=OS):
    """(observation bytes, exit code) of one call: 0 on success, 1 on an error the agent caused."""
    try:
        text, code = run(args, fs), 0
    except ToolError as exc:
        text, code = str(exc), 1
    except (OSError, UnicodeError) as exc:
        text, code = "Error: %s" % exc, 1
    return text.encode("utf-8", "replace"), code


def main():
    data, code = serve(json.loads(sys.stdin.read()))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
