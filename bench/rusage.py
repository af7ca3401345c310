#!/usr/bin/env python3
"""rusage.py - measure commands, children included (helper of bench/sync.sh).

    rusage.py [--trace] [--out FILE] -- CMD ARGS... [--- CMD ARGS...]...

Runs the commands one after another (stops at the first that fails) with
their output to FILE (default /dev/null) and prints one JSON object:

  wall_ms  sum of the wall times (fork to reap)
  user_ms, sys_ms
           from wait4(2) on each command: the command and every descendant
           it reaped (all of furrow's forked children, all of git's helpers)
  rc       exit status of the last command run

No peak RSS without --trace, on purpose: ru_maxrss from wait4 (what
`/usr/bin/time -f %M` prints) is the peak of the largest single process of
the tree, but it also counts the memory of the forked spawner before its
exec (the kernel keeps the pre-exec high-water mark), so under this python
it never drops below ~10 MiB; under GNU time the floor is ~1 MiB.

With --trace the commands run under ptrace (stops only at fork, exec and
exit, not at system calls) and "procs" lists every process of the tree:
pid, parent, name, own peak RSS (VmHWM of its own address space, read at
its exit: no spawner floor) and own CPU time (/proc/PID/schedstat, up to
the exit event, so without the final address-space teardown); a thread is
listed too, with "thread_of" its process (it shares that address space).  "peak_kib"
is the largest VmHWM in the tree, "top_kib" the first process's (furrow's
parent).  Tracing adds some wall time; take timing from untraced runs.
"""
import ctypes
import json
import os
import signal
import sys
import time

PTRACE_TRACEME, PTRACE_CONT, PTRACE_SETOPTIONS = 0, 7, 0x4200
PTRACE_GETEVENTMSG = 0x4201
O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE = 0x2, 0x4, 0x8
O_TRACEEXEC, O_TRACEEXIT, O_EXITKILL = 0x10, 0x40, 0x100000
EV_FORK, EV_VFORK, EV_CLONE, EV_EXEC, EV_EXIT = 1, 2, 3, 4, 6
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, pid=0, addr=None, data=None):
    return libc.ptrace(req, pid, addr, data)


def proc_field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split()[1]
    except OSError:
        pass
    return None


def proc_cpu_ns(pid):
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def proc_exe(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return "?"


def spawn(argv, out, trace):
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            nul = os.open("/dev/null", os.O_RDONLY)
            os.dup2(nul, 0)
            if trace and ptrace(PTRACE_TRACEME) != 0:
                os._exit(126)
            os.execvp(argv[0], argv)
        except OSError:
            pass
        os._exit(127)
    return pid


def run_plain(argv, out):
    t0 = time.monotonic()
    pid = spawn(argv, out, False)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    return wall, status, ru, []


def run_traced(argv, out):
    t0 = time.monotonic()
    top = spawn(argv, out, True)
    _, status = os.waitpid(top, WALL)      # stopped at the exec
    opts = (O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC |
            O_TRACEEXIT | O_EXITKILL)
    ptrace(PTRACE_SETOPTIONS, top, None, opts)
    parent = {top: os.getpid()}
    names = {top: os.path.basename(argv[0])}
    procs = {}
    live = {top}
    ptrace(PTRACE_CONT, top, None, None)
    top_status = top_ru = None
    while live:
        try:
            pid, st, ru = os.wait4(-1, WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(st) or os.WIFSIGNALED(st):
            live.discard(pid)
            if pid == top:
                top_status, top_ru = st, ru
            continue
        if not os.WIFSTOPPED(st):
            continue
        live.add(pid)
        sig, event = os.WSTOPSIG(st), st >> 16
        deliver = 0
        if sig == signal.SIGTRAP and event in (EV_FORK, EV_VFORK, EV_CLONE):
            msg = ctypes.c_ulong()
            ptrace(PTRACE_GETEVENTMSG, pid, None, ctypes.byref(msg))
            parent[msg.value] = pid
            names[msg.value] = names.get(pid, "?")
        elif sig == signal.SIGTRAP and event == EV_EXEC:
            names[pid] = proc_exe(pid)
        elif sig == signal.SIGTRAP and event == EV_EXIT:
            hwm = proc_field(pid, "VmHWM")
            tgid = int(proc_field(pid, "Tgid") or pid)
            procs[pid] = {
                "pid": pid, "ppid": parent.get(pid), "name": names.get(pid, "?"),
                "thread_of": tgid if tgid != pid else None,
                "hwm_kib": int(hwm) if hwm else None,
                "cpu_ms": (proc_cpu_ns(pid) or 0) / 1e6, "top": pid == top,
            }
        elif sig == signal.SIGSTOP and event == 0 and pid not in procs \
                and pid != top and pid in parent:
            pass                            # a new tracee's first stop
        elif event == 0:
            deliver = sig                   # a real signal: pass it on
        ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(deliver) if deliver else None)
    wall = time.monotonic() - t0
    order = sorted(procs.values(), key=lambda p: p["pid"])
    return wall, top_status, top_ru, order


def main():
    args = sys.argv[1:]
    trace, out = False, "/dev/null"
    while args and args[0] != "--":
        if args[0] == "--trace":
            trace = True
            args = args[1:]
        elif args[0] == "--out":
            out, args = args[1], args[2:]
        else:
            sys.exit(f"rusage.py: unknown option {args[0]}")
    args = args[1:]
    cmds, cur = [], []
    for a in args:
        if a == "---":
            cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    cmds.append(cur)
    res = {"wall_ms": 0.0, "user_ms": 0.0, "sys_ms": 0.0, "rc": 0}
    if trace:
        res.update(procs=[], peak_kib=0, top_kib=0)
    for argv in cmds:
        wall, st, ru, procs = (run_traced if trace else run_plain)(argv, out)
        res["wall_ms"] += wall * 1000
        res["user_ms"] += ru.ru_utime * 1000
        res["sys_ms"] += ru.ru_stime * 1000
        res["rc"] = os.waitstatus_to_exitcode(st)
        if trace:
            res["procs"].append({"cmd": argv[:2], "procs": procs})
            for p in procs:
                res["peak_kib"] = max(res["peak_kib"], p["hwm_kib"] or 0)
                if p["top"] and not res["top_kib"]:
                    res["top_kib"] = p["hwm_kib"] or 0
        if res["rc"] != 0:
            break
    print(json.dumps(res))


if __name__ == "__main__":
    main()
