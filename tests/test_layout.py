"""The package's shape: one folder per stage, data flowing one way, no import circles, short modules.

The import graph is read from the source (every ``import`` statement, also those inside functions and
under ``TYPE_CHECKING``), so a circle fails here even when lazy imports would hide it at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "imusynth"

#: Stage folders from the bottom of the pipeline to the top: a module may import its own layer and the
#: layers below it, never one above (``docs/architecture.md`` draws the same order).
LAYERS: list[set[str]] = [
    {"imusynth", "imusynth.errors", "imusynth.config", "imusynth.core"},
    {"imusynth.io"},
    {"imusynth.body"},
    {"imusynth.video"},
    {"imusynth.calibrate"},
    {"imusynth.compare"},
    {"imusynth.har"},
    {"imusynth.report"},
    {"imusynth.batch"},
    {"imusynth.cli", "imusynth.__main__"},
]

MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """imusynth modules that ``path`` imports (``from pkg import sub`` counts as pkg and pkg.sub)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t in modules and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    best, best_len = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if _layer(m) < 0] == []


def test_no_stage_imports_a_later_one() -> None:
    wrong = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
             for m, targets in _graph().items() for t in targets if _layer(t) > _layer(m)]
    assert wrong == []


# Modules allowed above MAX_LINES, each with the reason (also in docs/architecture.md).
LONG_OK: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_length(name: str) -> None:
    n = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES or name in LONG_OK, f"{name} has {n} lines (limit {MAX_LINES})"


def test_public_api_names_resolve() -> None:
    """Every name the package documents as public imports from ``imusynth`` itself."""
    import imusynth

    for name in imusynth.__all__:
        assert getattr(imusynth, name) is not None, name
    with pytest.raises(AttributeError):
        imusynth.no_such_name  # noqa: B018


def test_import_imusynth_is_light() -> None:
    """``import imusynth`` loads no heavy dependency (they load where they are used)."""
    import subprocess
    import sys

    code = ("import sys, imusynth; heavy = [m for m in ('numpy', 'scipy', 'h5py', 'cv2', 'mediapipe', "
            "'torch', 'typer') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
