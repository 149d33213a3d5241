"""The package's shape, checked from the source: layers point down, no import cycles, no module
reaching into another module's private names, no Qt below the ui package.

Layers (a module may import its own package and any package of a lower rank; ``fsutil`` and
the root package's ``__version__`` are for everyone):

    6  __main__                             python -m gam_viewer
    5  app                                  the entry point
    4  cli, ui                              sub-commands, the window
    3  render, eval, demo                   drawing and figures; dataset evaluation; the bundled demo
    2  inference, media, hub, data, train   running models, reading frames, downloads, datasets, training
    1  models                               builder, readers, the loaded-model record
    0  nn                                   PyTorch blocks
"""

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PKG = Path(__file__).resolve().parents[1] / "gam_viewer"
RANK = {"nn": 0, "models": 1, "inference": 2, "media": 2, "hub": 2, "data": 2, "train": 2,
        "render": 3, "eval": 3, "demo": 3, "cli": 4, "ui": 4, "app": 5, "__main__": 6}
FOR_EVERYONE = {"fsutil", "cachedir", "__init__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(mods: Dict[str, Path]) -> List[Tuple[str, str, List[str], int]]:
    """(importer, imported module, names, line) for every import in the package, at any depth."""
    out = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out.append((mod, a.name, [], node.lineno))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, is_pkg, node)
                names = [a.name for a in node.names]
                # 'from . import hub' imports the module gam_viewer.hub
                if all(f"{target}.{n}" in mods for n in names):
                    for n in names:
                        out.append((mod, f"{target}.{n}", [], node.lineno))
                else:
                    out.append((mod, target, names, node.lineno))
    return out


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODS = _modules()
IMPORTS = _imports(MODS)


def test_the_checker_sees_the_package():
    assert "gam_viewer.models.read" in MODS and "gam_viewer.inference.detector" in MODS
    assert any(src == "gam_viewer.inference.detector" and dst == "gam_viewer.models" for src, dst, _, _ in IMPORTS)


def test_every_package_has_a_layer():
    unknown = sorted({_top(m) for m in MODS} - set(RANK) - FOR_EVERYONE)
    assert unknown == [], f"give these a rank in RANK: {unknown}"


def test_layers_point_down():
    offenders = []
    for src, dst, _, line in IMPORTS:
        if not dst.startswith("gam_viewer"):
            continue
        a, b = _top(src), _top(dst)
        if a == b or b in FOR_EVERYONE or a in FOR_EVERYONE:
            continue
        if RANK[b] >= RANK[a]:
            offenders.append(f"{src}:{line} ({a}, rank {RANK[a]}) imports {dst} ({b}, rank {RANK[b]})")
    assert offenders == []


def test_root_package_is_imported_only_for_its_version():
    offenders = [f"{src}:{line} imports {names} from gam_viewer" for src, dst, names, line in IMPORTS
                 if dst == "gam_viewer" and src != "gam_viewer" and set(names) - {"__version__"}]
    assert offenders == []


def test_no_private_names_from_other_modules():
    offenders = []
    for src, dst, names, line in IMPORTS:
        if not dst.startswith("gam_viewer") or dst == src:
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            offenders.append(f"{src}:{line} imports {private} from {dst}")
    assert offenders == []


def test_no_import_cycles():
    graph: Dict[str, Set[str]] = {m: set() for m in MODS}
    for src, dst, _, _ in IMPORTS:
        while dst and dst not in MODS:          # 'gam_viewer.models.read.read_model' -> module
            dst = dst.rpartition(".")[0]
        if dst and dst != src and not MODS[dst].name == "__init__.py":
            graph[src].add(dst)
    # Tarjan's strongly connected components
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize("qt", ["PySide6", "PyQt5", "PyQt6", "pyqtgraph"])
def test_no_qt_below_the_ui(qt):
    offenders = [f"{src}:{line}" for src, dst, _, line in IMPORTS
                 if dst.split(".")[0] == qt and _top(src) not in ("ui",)]
    assert offenders == []
