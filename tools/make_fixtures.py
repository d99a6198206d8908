#!/usr/bin/python3
"""Writes the PyTorch reference fixtures the C tests compare against.

Run with Debian's PyTorch:  /usr/bin/python3 tools/make_fixtures.py [section ...]
Each module tools/fixtures/<section>.py has a main(outdir) that writes
tests/fixtures/<section>_*.safetensors. The fixtures are committed, so CI needs no PyTorch.
"""
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    outdir = os.path.join(HERE, "..", "tests", "fixtures")
    os.makedirs(outdir, exist_ok=True)
    names = sys.argv[1:] or sorted(
        f[:-3] for f in os.listdir(os.path.join(HERE, "fixtures"))
        if f.endswith(".py") and f not in ("__init__.py", "common.py"))
    for name in names:
        mod = importlib.import_module("fixtures." + name)
        print(f"fixtures: {name}")
        mod.main(outdir)


if __name__ == "__main__":
    main()
