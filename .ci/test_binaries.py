#!/usr/bin/env python3
"""Reads `cargo test --no-run --message-format=json` on stdin; prints the directory and
the path of every test binary of the packages named as arguments (`engine`), or of one
test target of a package (`maeul:serve`), one per line, so that they can be run again
without building anything."""
import json
import os
import sys

packages = {a for a in sys.argv[1:] if ":" not in a}
targets = {tuple(a.split(":", 1)) for a in sys.argv[1:] if ":" in a}
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
    package = os.path.basename(package_dir)
    if package in packages or (package, msg["target"]["name"]) in targets:
        print(package_dir, msg["executable"])
