#!/usr/bin/env python3
"""Checks that the library's layers depend on each other one way only (see ARCHITECTURE.md).

- Only `Platform/` imports Glibc, Foundation or the C shim (`CInterprocess`).
- A layer names no type declared in a layer below it in `LAYERS`; `ThreadPool` may use
  `Platform` only.

Type names are collected from the declarations (`struct`, `class`, `enum`, `protocol`,
`actor`, `typealias`) at the top level of each layer's files; a use is any occurrence of the
name as a whole word outside comments and string literals. Exits non-zero with one line per
violation.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "Sources" / "Interprocess"
# Each layer may use the layers before it in this list, and no other.
LAYERS = [
    "Platform", "SharedMemory", "Synchronization", "Collections", "Channels", "Topics", "Blackboard", "Services",
    "WaitSet", "Registry"
]
# Layers outside the chain, with the layers they may use.
SIDE_LAYERS = {"ThreadPool": ["Platform"]}
LOW_LEVEL_IMPORTS = {"Glibc", "Foundation", "CInterprocess", "Darwin", "Musl"}

# Top-level declarations only: nested types are reached through their outer type's name, and
# nested names (`Iterator`, `Failure`, `Offset`) repeat across layers.
DECLARATION = re.compile(
    r"^(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private|final|indirect)\s+)*"
    r"(?:struct|class|enum|protocol|actor|typealias)\s+([A-Z_][A-Za-z0-9_]*)",
    re.M)


def strip(source: str) -> str:
    """The source without comments and string literals (multi-line strings included)."""
    keep_lines = lambda m: "\n" * m.group(0).count("\n")
    source = re.sub(r'"""(?:.|\n)*?"""', keep_lines, source)
    source = re.sub(r"/\*(?:.|\n)*?\*/", keep_lines, source)
    source = re.sub(r"//[^\n]*", "", source)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', source)


def files(layer: str):
    return sorted((ROOT / layer).rglob("*.swift"))


def main() -> int:
    problems = []
    declared = {}
    for layer in LAYERS + list(SIDE_LAYERS):
        names = set()
        for path in files(layer):
            names.update(DECLARATION.findall(strip(path.read_text())))
        declared[layer] = names
    known = {path for layer in declared for path in files(layer)}
    for path in sorted(ROOT.rglob("*.swift")):
        if path not in known:
            problems.append(f"{path.relative_to(ROOT)}: not in any layer of .ci/check-layers.py")
    for layer in LAYERS + list(SIDE_LAYERS):
        allowed = SIDE_LAYERS.get(layer) or LAYERS[: LAYERS.index(layer)]
        forbidden = {}
        for other in LAYERS + list(SIDE_LAYERS):
            if other == layer or other in allowed:
                continue
            for name in declared[other] - declared[layer]:
                forbidden[name] = other
        pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, forbidden))) + r")\b") if forbidden else None
        for path in files(layer):
            text = path.read_text()
            for number, line in enumerate(text.splitlines(), 1):
                m = re.match(r"\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*import\s+(?:struct\s+|enum\s+|func\s+)?([A-Za-z_]+)", line)
                if m and m.group(1) in LOW_LEVEL_IMPORTS and layer != "Platform":
                    problems.append(f"{path.relative_to(ROOT)}:{number}: imports {m.group(1)} (only Platform/ may)")
            if pattern:
                for number, line in enumerate(strip(text).splitlines(), 1):
                    for name in sorted(set(pattern.findall(line))):
                        problems.append(
                            f"{path.relative_to(ROOT)}:{number}: {layer} names {name}, declared in {forbidden[name]}")
    for problem in problems:
        print(problem)
    sys.stdout.flush()
    if problems:
        print(f"{len(problems)} layering violation(s); see ARCHITECTURE.md", file=sys.stderr)
        return 1
    print("layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
