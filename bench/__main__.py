"""`python -m bench` / `make bench`: run the sections, print the table and targets, write JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.context import BenchConfig
from bench.run import DEFAULT_OUT_DIR, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", type=Path, help=f"JSON file (default: {DEFAULT_OUT_DIR}/...)")
    parser.add_argument("--section", action="append", default=[], help="run only these")
    parser.add_argument("--no-peer", action="store_true", help="skip the MLServer peer")
    args = parser.parse_args(argv)
    config = BenchConfig(quick=args.quick, sections=tuple(args.section), peer=not args.no_peer)
    run_bench(config, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
