"""House rules that keep the layers apart: the engine never imports Streamlit."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]


def test_engine_never_imports_streamlit() -> None:
    names = [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    if name.endswith('__main__'):\n"
        "        continue\n"
        "    importlib.import_module(name)\n"
        "assert 'streamlit' not in sys.modules, 'an engine module imported streamlit'\n"
        "print(len(sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "engine.ingest" in names and "engine.store" in names


def test_cli_help_does_not_load_heavy_modules() -> None:
    code = (
        "import sys\nfrom engine import cli\n"
        "assert 'pyarrow' not in sys.modules and 'duckdb' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_public_modules_declare_all() -> None:
    for info in pkgutil.iter_modules(engine.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"engine.{info.name}")
        assert hasattr(module, "__all__"), f"engine.{info.name} has no __all__"
