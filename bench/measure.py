#!/usr/bin/env python3
"""Runs a command; prints wall seconds, CPU seconds (user+sys) and peak RSS (KiB) of the child.

CPU time is the figure to compare: it does not grow when other processes share the machine.
"""
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{elapsed:.3f} {usage.ru_utime + usage.ru_stime:.3f} {usage.ru_maxrss} {proc.returncode}")
if proc.returncode not in (0, 1):
    sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
