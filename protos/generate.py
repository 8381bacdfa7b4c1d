"""Generates the Python modules of the wire contract from protos/**/*.proto (`make proto`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTOS_DIR = Path(__file__).resolve().parent
ROOT = PROTOS_DIR.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_sources() -> list[Path]:
    return sorted(PROTOS_DIR.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Runs grpc_tools.protoc over every .proto into out_dir (laid out like the repo root)."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(p.relative_to(ROOT)) for p in proto_sources()]
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {sources}")
    return sorted(p for p in out_dir.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))


def generated_files() -> dict[str, bytes]:
    """The generated modules as they would be now, keyed by path relative to the repo root."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        return {str(p.relative_to(out)): p.read_bytes() for p in generate(out)}


def main() -> int:
    fresh = generated_files()
    for old in PROTOS_DIR.rglob("*"):
        if old.name.endswith(GENERATED_SUFFIXES) and str(old.relative_to(ROOT)) not in fresh:
            old.unlink()
    for rel, data in fresh.items():
        target = ROOT / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
