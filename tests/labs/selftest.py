#!/usr/bin/env python3
"""Proves run-lab.py can fail: runs it on fixtures/runner-selftest.md, in
which three steps keep their promises and two do not (wrong output, a
non-zero exit), and checks that exactly those two are reported.
Usage: selftest.py HVRUN_BIN"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
p = subprocess.run([sys.executable, os.path.join(here, "run-lab.py"), "--hvrun", sys.argv[1],
                    os.path.join(here, "fixtures", "runner-selftest.md")],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(p.stdout)
if p.returncode == 77:
    print("selftest: SKIP (run-lab skipped: see above)")
    sys.exit(77)
want = [
    (p.returncode == 1, "run-lab exits 1 when a check fails"),
    ("2 of 6 steps failed" in p.stdout, "exactly two of six steps fail"),
    ("output does not match: ^the promised output$" in p.stdout, "a wrong output is reported"),
    ("exit status 1, the lab says 0" in p.stdout, "a failing command is reported"),
    (p.stdout.count("] ok") == 4, "the four good steps pass (variables persist, prose is not run)"),
]
bad = [what for ok, what in want if not ok]
for what in bad:
    print("selftest FAILED:", what)
sys.exit(1 if bad else 0)
