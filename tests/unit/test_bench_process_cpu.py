"""bench/process_cpu.py: the processes below a set of roots, read from /proc."""

from __future__ import annotations

import subprocess
import sys

from bench.process_cpu import descendants, trees

# A child that starts a grandchild, prints the grandchild's pid, then waits for it.
PARENT = ("import subprocess, sys; g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
          "print(g.pid, flush=True); g.wait()")


def test_a_tree_holds_children_and_grandchildren_once_each():
    child = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(child.stdout.readline())
        found = trees([child.pid, child.pid, grandchild])
        assert found[0] == child.pid and sorted(found) == sorted({child.pid, grandchild})
        assert descendants(child.pid) == [child.pid, grandchild]
        assert trees([]) == []
    finally:
        subprocess.run(["pkill", "-P", str(child.pid)], check=False)
        child.kill()
        child.wait()
