"""Nothing in the code base deserializes untrusted formats that can run code: no pickle (or its
wrappers), no unsafe YAML, no eval/exec. Artifacts are ONNX, settings TOML/env, payloads protobuf
and JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOLDERS = ("common", "server", "trainer", "feedback", "clients", "bench", "protos")
UNSAFE = {
    "pickle": re.compile(
        r"\b(c?pickle|dill|cloudpickle|marshal|shelve)\.(loads?|Unpickler|open)\b"
    ),
    "joblib.load": re.compile(r"\bjoblib\.load\b"),
    "torch.load": re.compile(r"\btorch\.load\b"),
    "numpy allow_pickle": re.compile(r"allow_pickle\s*=\s*True"),
    "pandas read_pickle": re.compile(r"\bread_pickle\b"),
    "yaml.load without SafeLoader": re.compile(
        r"\byaml\.(load|load_all)\((?![^)]*Loader\s*=\s*yaml\.(C?SafeLoader|BaseLoader))"
    ),
    "yaml unsafe_load": re.compile(r"\byaml\.(unsafe_load|full_load)"),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\("),
    "import pickle": re.compile(
        r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|marshal|shelve)\b", re.M
    ),
}


def _sources() -> list[Path]:
    return sorted(
        p
        for folder in FOLDERS
        for p in (ROOT / folder).rglob("*.py")
        if not p.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    )


def findings(text: str) -> list[str]:
    return [name for name, pattern in UNSAFE.items() if pattern.search(text)]


@pytest.mark.parametrize(
    "line",
    [
        "model = pickle.load(f)",
        "import cloudpickle",
        "clf = joblib.load(path)",
        "state = torch.load('m.pt')",
        "np.load(p, allow_pickle=True)",
        "cfg = yaml.load(text)",
        "cfg = yaml.load(text, Loader=yaml.Loader)",
        "x = eval(expr)",
        "exec(code)",
        "df = pd.read_pickle(p)",
    ],
)
def test_the_patterns_catch_unsafe_lines(line: str) -> None:
    assert findings(line), line


@pytest.mark.parametrize(
    "line",
    [
        "cfg = yaml.load(text, Loader=yaml.SafeLoader)",
        "model.eval()",
        "session = ort.InferenceSession(path)",
        "data = json.loads(text)",
    ],
)
def test_the_patterns_leave_safe_lines(line: str) -> None:
    assert not findings(line), line


def test_no_source_file_deserializes_unsafely() -> None:
    sources = _sources()
    assert len(sources) > 50  # the scan really sees the code base
    bad = {str(p.relative_to(ROOT)): f for p in sources if (f := findings(p.read_text()))}
    assert bad == {}
