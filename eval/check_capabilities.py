"""Check that every capability the sandbox container keeps is needed: drop each in turn and run the supervisor's
duties (kill a timed-out command, drop to the agent, checkpoint, restore a tree the agent closed with
`chmod -R 000`, recreate after `rm -rf .git`). Run: .venv/bin/python eval/check_capabilities.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sandbox"))
import srl_agent.sandbox.container as C
from srl_agent.sandbox import Sandbox, BASE_IMAGE
from conftest import REPO_SETUP
from srl_agent.actions import Action
FULL = C.CAPABILITIES
def battery():
    with Sandbox(BASE_IMAGE) as sb:
        assert sb.run(REPO_SETUP).exit_code == 0, "setup"
        sb.checkpoint()
        assert sb.run("sleep 20 & sleep 30", timeout=1).timed_out
        assert "sleep" not in sb.run("pgrep -u agent -a sleep || true").output, "kill"
        sb.execute(Action.editor("create", "/testbed/e.py", file_text="x\n"))
        sb.write_file("w.txt", "w"); assert sb.read_file("w.txt") == "w"
        sb.run("echo c >> notes.txt; chmod -R 000 /testbed; chmod 000 ~")
        r = sb.reset(); assert not r.recreated, ("reset", r.reason)
        assert sb.run("cat notes.txt").output == "line1\nline2\nline3\n", "restore"
        sb.run("rm -rf .git"); r = sb.reset(); assert r.recreated
        assert sb.run("git log --oneline | wc -l").output == "1\n"
    return "ok"
print("| capabilities | result |\n|---|---|")
for drop in [None] + list(FULL):
    C.CAPABILITIES = tuple(c for c in FULL if c != drop)
    try:
        res = battery()
    except Exception as exc:  # noqa: BLE001 - the point is to see what breaks
        res = f"fails: {type(exc).__name__}: {str(exc)[:120]}"
    print(f"| {'all ' + str(len(FULL)) if drop is None else 'without ' + drop} | {res} |", flush=True)
