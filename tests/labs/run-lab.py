#!/usr/bin/env python3
"""Runs the commands of one hands-on lab (docs/labs/*.md) and checks the
output the lab promises, so that the labs never rot.

What is run: fenced blocks whose info string is `sh lab` (run on this
machine, as root) or `sh lab-vm` (run where microVMs boot: on a PVM host
such as our CI machines, inside the nested test host scripts/vmhost; all
lab-vm blocks of a lab share one test-host boot). Other blocks are prose.

Inside a block, commands accumulate into a *step* until a check line:
    # expect: REGEX       the step's output (stdout+stderr) matches REGEX
    # expect-not: REGEX   ... does not match REGEX
    # exit: N             the step's exit status (its last command's) is N
A step with no `# exit:` line must exit 0. Commands left at the end of a
block form a step that must exit 0. All steps of one place run in order in
one bash, so variables set in one step are seen by the next.
REGEX is a Python regular expression searched with re.MULTILINE.

The environment a lab sees (the one docs/labs/README.md asks readers for):
the working directory is the hvrun checkout, `hvrun` is on PATH (the build's
binary), HVRUN_ROOT=/tmp/hvrun-labs, HVRUN_NETWORK=none. On this machine each lab runs in a
private mount namespace whose /tmp is a fresh directory, so labs running in
parallel share nothing; containers left behind are removed at the end.

Several labs given at once run one after another in one store (and one
private /tmp), as a reader who follows them in order would.

Usage:
  run-lab.py --hvrun BIN [--work DIR] [--skip-unless-subcommand NAME] LAB.md...
  run-lab.py --print host|vm LAB.md...  print the script of one place
Exit status: 0 all checks passed, 1 a check failed, 77 skipped (reason
printed), 2 usage or setup error.
"""
import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
FENCE = re.compile(r"^(```+|~~~+)\s*(\S*)\s*(.*)$")
CHECK = re.compile(r"^\s*#\s*(expect|expect-not|exit):\s?(.*)$")
HVRUN_ROOT = "/tmp/hvrun-labs"


class Step:
    def __init__(self, place, line, path):
        self.place = place
        self.line = line  # where in the Markdown it starts
        self.path = path
        self.cmds = []
        self.expect = []
        self.expect_not = []
        self.exit = 0

    def has_commands(self):
        return any(c.strip() and not c.strip().startswith("#") for c in self.cmds)


def parse(path):
    """The lab's steps, in document order."""
    steps = []
    fence = None  # the open fence's marker, when inside a block
    place = None  # "host" / "vm" inside a lab block, None inside prose blocks
    cur = None
    closed = False  # the current step got a check line; the next command starts a new one
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            words = (m.group(2) + " " + m.group(3)).split()
            place = None
            if words[:1] == ["sh"] and "lab" in words[1:]:
                place = "host"
            elif words[:1] == ["sh"] and "lab-vm" in words[1:]:
                place = "vm"
            cur, closed = None, False
            continue
        if fence is not None and line.strip().startswith(fence[0] * len(fence)) and line.strip().strip(fence[0]) == "":
            if place and cur and cur.has_commands():
                steps.append(cur)
            fence, place, cur = None, None, None
            continue
        if not place:
            continue
        c = CHECK.match(line)
        if c:
            if cur is None or not cur.has_commands():
                raise SystemExit(f"{path}:{n}: a check line with no command before it")
            kind, arg = c.group(1), c.group(2).strip()
            if kind == "expect":
                re.compile(arg)
                cur.expect.append(arg)
            elif kind == "expect-not":
                re.compile(arg)
                cur.expect_not.append(arg)
            else:
                cur.exit = int(arg)
            closed = True
            continue
        if cur is None or closed:
            if cur and cur.has_commands():
                steps.append(cur)
            cur, closed = Step(place, n, path), False
        cur.cmds.append(line)
    if fence is not None:
        raise SystemExit(f"{path}: unclosed code block")
    return steps


def script(steps, place, bindir, source, real=None):
    """Bash that runs every step of one place, each step's output and status
    framed on stdout (base64, so a serial console cannot mangle it)."""
    out = [
        "#!/bin/bash",
        f"cd {sh_quote(source)} || exit 2",
        f"export PATH={sh_quote(bindir)}:$PATH",
        f"export HVRUN_ROOT={HVRUN_ROOT}",
        "export HVRUN_NETWORK=none",
        "__o=$(mktemp -d /tmp/lab-step.XXXXXX)",
    ]
    if real:  # never test another hvrun by mistake (an installed one, say)
        out.append(f'[ "$(readlink -f "$(command -v hvrun)")" = {sh_quote(real)} ] || '
                   '{ echo "run-lab: hvrun on PATH is $(command -v hvrun), not the binary under test"; exit 2; }')
    if place == "vm":
        # In the test host / is an overlayfs, which cannot hold the upper
        # dir of a container's overlay: the store goes on a tmpfs there.
        out.append(f'mkdir -p {HVRUN_ROOT} && {{ [ "$(stat -f -c %T /tmp)" != overlayfs ] || '
                   f'mountpoint -q {HVRUN_ROOT} || mount -t tmpfs -o mode=0700 hvrun-labs {HVRUN_ROOT}; }}')
        # A heartbeat: a slow test host (a busy machine) stays alive for
        # vmhost --idle-timeout, a frozen one falls silent and is caught.
        out.append("( while sleep 20; do echo '=== LAB heartbeat'; done ) & __hb=$!")
    for i, s in enumerate(steps):
        if s.place != place:
            continue
        out.append(f"echo '=== LAB STEP {i} BEGIN'")
        if place == "vm":
            # A nested guest that hangs (the test host stays alive, so the
            # heartbeat goes on) ends the step after 240 s and the transcript
            # with 124: run_vm reruns it once in a fresh test host. Every
            # hvrun process goes, not only the VMM: a caller waiting on a
            # stuck run (`hvrun compare`, say) must end too.
            out.append('( sleep 240; touch "$__o/stuck"; pkill -9 -x hvrun-vmm; pkill -9 -x hvrun ) & __wd=$!')
        out.append("{")
        out.extend(s.cmds)
        out.append(f"\n}} >\"$__o/out\" 2>&1 </dev/null; __rc=$?")
        if place == "vm":
            out.append("kill $__wd 2>/dev/null; wait $__wd 2>/dev/null")
            out.append('[ ! -e "$__o/stuck" ] || { echo "=== LAB step time limit hit: a nested guest hung"; '
                       'kill $__hb 2>/dev/null; exit 124; }')
        out.append(f"echo \"=== LAB STEP {i} rc=$__rc out=$(base64 -w0 \"$__o/out\") t=$SECONDS\"")
    # Leave nothing running behind: containers a lab forgot (or a failed one left).
    out.append("hvrun ps -aq 2>/dev/null | xargs -r hvrun rm -f >/dev/null 2>&1")
    if place == "vm":
        out.append("kill $__hb 2>/dev/null")
    out.append('echo "=== LAB DONE t=$SECONDS"')
    return "\n".join(out) + "\n"


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


RESULT = re.compile(r"=== LAB STEP (\d+) rc=(\d+) out=([A-Za-z0-9+/=]*)")


def results(text):
    got = {}
    for line in text.splitlines():
        m = RESULT.search(line)
        if m:
            got[int(m.group(1))] = (int(m.group(2)), base64.b64decode(m.group(3)).decode("utf-8", "replace"))
    return got


def problems(s, result):
    """Why step s's (rc, output) breaks the lab's promises ([] when kept)."""
    rc, out = result
    why = []
    if rc != s.exit:
        why.append(f"exit status {rc}, the lab says {s.exit}")
    for rx in s.expect:
        if not re.search(rx, out, re.MULTILINE):
            why.append(f"output does not match: {rx}")
    for rx in s.expect_not:
        if re.search(rx, out, re.MULTILINE):
            why.append(f"output matches what it must not: {rx}")
    return why


def failed(steps, got, place):
    """The steps of one place that did not run or broke a promise."""
    return [i for i, s in enumerate(steps) if s.place == place and (i not in got or problems(s, got[i]))]


def check(steps, got):
    failures = 0
    for i, s in enumerate(steps):
        head = f"--- {os.path.basename(s.path)}:{s.line} [{s.place}]"
        cmd = "\n".join("    " + c for c in s.cmds if c.strip())
        if i not in got:
            print(f"{head} NOT RUN\n{cmd}")
            failures += 1
            continue
        rc, out = got[i]
        why = problems(s, got[i])
        print(f"{head} {'FAIL' if why else 'ok'}\n{cmd}")
        shown = out if len(out) < 4000 else out[:1500] + "\n[...]\n" + out[-2000:]
        print("  | " + shown.rstrip("\n").replace("\n", "\n  | ") if out else "  (no output)")
        for w in why:
            print(f"  FAILED: {w}")
        failures += bool(why)
    return failures


# Inside the lab's mount namespace: $1 becomes /tmp; every further argument
# is a path that must stay visible (the checkout, the work dir, hvrun's dir):
# one under /tmp is bound to the same place inside the new /tmp first.
PRIVATE_TMP = r'''
exec 9<"$2" || exit 2
new=$1; shift 2
for keep in "$@"; do
  case $keep in /tmp/*) mkdir -p "$new${keep#/tmp}" && mount --rbind "$keep" "$new${keep#/tmp}" || exit 2 ;; esac
done
mount --rbind "$new" /tmp && exec bash /dev/fd/9
'''


def run_host(sh, work, keep):
    """Runs on this machine, in a private mount namespace with its own /tmp."""
    tmp = tempfile.mkdtemp(prefix="tmp.", dir=work)
    os.chmod(tmp, 0o1777)
    path = os.path.join(work, "host.sh")
    with open(path, "w") as f:
        f.write(sh)
    try:
        p = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", PRIVATE_TMP, "lab", tmp, path]
            + keep,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
        text = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace") + "\nrun-lab: the host part timed out after 1200 s\n"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return text


def run_vm(sh, work, source):
    """Runs inside one nested test host (scripts/vmhost); one retry if the
    test host as a whole hangs (see docs/architecture.md)."""
    path = os.path.join(work, "vm.sh")
    with open(path, "w") as f:
        f.write(sh)
    text = ""
    for attempt in (1, 2):
        # HVRUN_LAB_VERBOSE=1: the test host's whole console (kernel too).
        verbose = ["--verbose"] if os.environ.get("HVRUN_LAB_VERBOSE") == "1" else []
        cmd = [os.path.join(source, "scripts/vmhost"), "--mem", "3072", "--timeout", "900",
               "--idle-timeout", "240"] + verbose + ["--", "bash", path]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1000,
                           env=dict(os.environ, HVRUN_ROOT=HVRUN_ROOT))
        out = p.stdout.decode("utf-8", "replace").replace("\r", "")
        done = re.search(r"^=== LAB DONE t=(\d+)", out, re.MULTILINE)
        # How long the test host took, and when the lab's script was done
        # inside it (seconds since the script started): a long gap between
        # the two is the test host's own start or halt.
        note = (f"test host attempt {attempt}: exit {p.returncode} after {time.monotonic() - t0:.0f} s; "
                f"lab script done after {done.group(1) + ' s' if done else '(not done)'}")
        print(note)
        text += f"--- {note}\n" + out
        if p.returncode != 124 or "=== LAB DONE" in out:
            break
    return text


def vm_ready_here(hvrun):
    p = subprocess.run([hvrun, "check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return re.search(r"^VM mode:\s+ready", p.stdout.decode("utf-8", "replace"), re.MULTILINE) is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hvrun", help="the hvrun binary to put on PATH")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--work", help="scratch directory (default: a temporary one)")
    ap.add_argument("--skip-unless-subcommand", help="skip (exit 77) unless `hvrun --help` lists subcommand NAME")
    ap.add_argument("--print", choices=["host", "vm"], help="print the script of one place and exit")
    ap.add_argument("lab", nargs="+")
    a = ap.parse_args()
    steps = []
    for lab in a.lab:
        more = parse(lab)
        if not more:
            print(f"run-lab: {lab} has no `sh lab` or `sh lab-vm` blocks", file=sys.stderr)
            return 2
        steps += more
    if a.print:
        bindir = os.path.dirname(os.path.abspath(a.hvrun)) if a.hvrun else "/usr/local/bin"
        sys.stdout.write(script(steps, a.print, bindir, a.source))
        return 0
    if not a.hvrun or not os.access(a.hvrun, os.X_OK):
        print(f"run-lab: --hvrun {a.hvrun}: not an executable", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("run-lab: SKIP: the labs run containers and need root (CI runs as root)")
        return SKIP
    if a.skip_unless_subcommand:
        # `hvrun NAME --help` is no test: the top level's --help answers it.
        p = subprocess.run([a.hvrun, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        listed = re.search(rf"^\s+{re.escape(a.skip_unless_subcommand)}\s", p.stdout.decode("utf-8", "replace"),
                           re.MULTILINE)
        if not listed:
            print(f"run-lab: SKIP: this build's hvrun has no `{a.skip_unless_subcommand}` subcommand yet "
                  f"(`hvrun --help` does not list it)")
            return SKIP
    # The work dir holds the `hvrun` on PATH: it, the checkout and the
    # binary's directory stay visible when the lab's private /tmp covers the
    # real one (run_host binds those under /tmp into it).
    base = os.path.realpath(a.work or os.path.join(a.source, "build", "tests", "labs", "work"))
    if base == "/tmp":
        print("run-lab: --work /tmp: give a directory of its own", file=sys.stderr)
        return 2
    os.makedirs(base, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lab.", dir=base)
    # `hvrun` on PATH means the binary under test, whatever it is called.
    bindir = os.path.join(work, "bin")
    os.mkdir(bindir)
    os.symlink(os.path.abspath(a.hvrun), os.path.join(bindir, "hvrun"))
    got, log = {}, ""
    try:
        keep = sorted({os.path.realpath(a.source), work, os.path.dirname(os.path.realpath(a.hvrun))})
        for place in ("host", "vm"):
            if not any(s.place == place for s in steps):
                continue
            sh = script(steps, place, bindir, a.source, os.path.realpath(a.hvrun))
            if place == "host":
                text = run_host(sh, work, keep)
            elif vm_ready_here(a.hvrun):
                # Hardware virtualization: microVMs boot right here.
                text = "(VM mode is ready on this host: lab-vm blocks run here)\n" + run_host(sh, work, keep)
            else:
                text = run_vm(sh, work, a.source)
                # Nested guests in the TCG test host now and then hang or
                # die (docs/architecture.md): a VM part with a broken step
                # runs once more, whole, in a fresh test host, and that run
                # is what counts. A real fault fails both; both are logged.
                bad = failed(steps, results(text), "vm")
                if bad:
                    lines = ", ".join(f"{os.path.basename(steps[i].path)}:{steps[i].line}" for i in bad)
                    print(f"vm steps failed in the first test host ({lines}): running the VM part once more "
                          f"in a fresh one")
                    log += "=== vm transcript (first test host, not counted)\n" + text
                    text = run_vm(sh, work, a.source)
            got.update(results(text))
            # The transcript less the framed step results (shown decoded above).
            log += f"=== {place} transcript\n" + "".join(
                l + "\n" for l in text.splitlines() if not l.startswith(("=== LAB STEP", "=== LAB heartbeat")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failures = check(steps, got)
    if failures:
        print(f"\n{failures} of {len(steps)} steps failed; raw transcript:\n{log}")
        return 1
    print(f"\nall {len(steps)} steps of {', '.join(os.path.basename(l) for l in a.lab)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
