#!/usr/bin/env python3
"""What a snapshot's write does to the journal's fdatasync beside it, two ways in one run.

A thread appends 8 KiB and fdatasyncs in a loop (the journal); meanwhile a 512 MiB
file is written (the snapshot) either in one go and fsynced at the end ("plain", what
maeul did before) or in 1 MiB chunks whose writeback is started as each is written and
waited for one chunk later ("paced", crates/journal/src/writeback.rs). Prints the
journal's fdatasync latencies while each runs, alternated, two rounds.

    python3 bench/snapshot_stall.py [directory on the disk to test, default .]
"""
import ctypes
import os
import sys
import threading
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
SNAPSHOT = 512 << 20
CHUNK = 1 << 20
WRITE, WAIT_BEFORE, WAIT_AFTER = 2, 1, 4
libc = ctypes.CDLL("libc.so.6", use_errno=True)


libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]


def sync_file_range(fd, offset, length, flags):
    # A failure would make the "paced" rows unpaced without saying so.
    if libc.sync_file_range(fd, offset, length, flags) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"sync_file_range: {os.strerror(errno)}")


def run(mode):
    journal = os.path.join(DIR, "stall-journal.tmp")
    snapshot = os.path.join(DIR, "stall-snapshot.tmp")
    fd = os.open(journal, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"\0" * (64 << 20))
    os.fsync(fd)
    latencies, stop = [], threading.Event()

    def append():
        offset, record = 0, b"j" * 8192
        while not stop.is_set():
            t = time.perf_counter()
            os.pwrite(fd, record, offset)
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - t)
            offset = (offset + len(record)) % (60 << 20)
            time.sleep(0.0005)

    writer = threading.Thread(target=append)
    writer.start()
    time.sleep(0.5)
    started = time.perf_counter()
    big = os.open(snapshot, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk, offset, in_flight = b"s" * CHUNK, 0, None
    for _ in range(SNAPSHOT // CHUNK):
        os.write(big, chunk)
        if mode == "paced":
            sync_file_range(big, offset, CHUNK, WRITE)
            if in_flight is not None:
                sync_file_range(big, in_flight, CHUNK, WAIT_BEFORE | WRITE | WAIT_AFTER)
            in_flight = offset
        offset += CHUNK
    os.fsync(big)
    os.close(big)
    took = time.perf_counter() - started
    time.sleep(0.3)
    stop.set()
    writer.join()
    os.close(fd)
    os.unlink(snapshot)
    os.unlink(journal)
    ms = sorted(x * 1e3 for x in latencies)
    n = len(ms)
    if n == 0:
        sys.exit("no fdatasync finished while the snapshot was written")
    print(f"| {mode} | {took:.2f} s | {n} | {ms[n // 2]:.2f} | {ms[int(n * .99)]:.1f} | "
          f"{ms[int(n * .999)]:.1f} | {ms[-1]:.1f} |")


print("| snapshot write | took | journal fdatasyncs | p50 ms | p99 ms | p999 ms | max ms |")
print("|---|---|---|---|---|---|---|")
for mode in ["plain", "paced", "plain", "paced"]:
    run(mode)
    time.sleep(1)
