"""The package's imports point down its layers: no part imports a part of its own or a higher rank, so no loops."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "unmask"

# Low to high: a part may import parts of a lower rank only (the same rank: neither imports the other).
RANKS = {
    "errors": 0, "provenance": 0, "encode": 0, "_version": 0, "io": 1, "run_folder": 1, "nets": 2, "models": 2,
    "face": 3, "losses": 3, "occlusion": 4, "viz": 4, "cover": 4, "large": 4, "grain": 4, "seam": 1, "data": 5,
    "export": 6, "pipeline": 6, "eval": 7, "train": 8,
    "runplan": 9, "study": 9, "batch": 10, "detect_run": 10, "server": 11, "demo": 11, "cli": 12,
    "__init__": 13,
}


def _part(path: Path) -> str:
    """The top-level part of the package a file belongs to (``models`` for models/pconv.py, ``io`` for io.py)."""
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(path: Path) -> set[str]:
    """The parts of ``unmask`` a file imports, at module level or inside functions."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name == "unmask":
                parts.add("__init__")
            elif name.startswith("unmask."):
                parts.add(name.split(".")[1])
    return parts


def _arrows() -> set[tuple[str, str]]:
    """Every (importer, imported) pair of different parts."""
    return {(_part(path), imported) for path in SRC.rglob("*.py") for imported in _imported_parts(path)
            if imported != _part(path)}


def test_every_part_has_a_layer():
    parts = {_part(path) for path in SRC.rglob("*.py")}
    assert parts <= set(RANKS), f"give these parts a rank in RANKS: {sorted(parts - set(RANKS))}"


def test_imports_point_down():
    upward = sorted((a, b) for a, b in _arrows() if RANKS[b] >= RANKS[a])
    assert not upward, f"imports against the layers (up, or between parts of one rank): {upward}"
