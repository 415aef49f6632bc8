#!/usr/bin/env python3
"""Reads `cargo test --no-run --message-format=json` on stdin; prints the directory and
the path of every test binary of the packages named as arguments, one per line, so
that they can be run again without building anything."""
import json
import os
import sys

wanted = set(sys.argv[1:])
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg.get("profile", {}).get("test"):
        continue
    package_dir = os.path.dirname(msg["manifest_path"])
    if os.path.basename(package_dir) in wanted:
        print(package_dir, msg["executable"])
