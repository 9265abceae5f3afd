#!/usr/bin/env python3
"""Holds src/ to the module graph written down in docs/architecture.md.

The real edges between modules (src/<module>/) are read from the code, two kinds:
  include  a file of src/A includes "B/..."            (the compiler already refuses this unless A
                                                         links B: cmake/modules.cmake)
  link     src/A/CMakeLists.txt links a library of B
Fails (exit 1) when
  - a module includes a module it does not link itself (only transitively);
  - a real edge is not in the allowed list, or an allowed edge no longer exists (the list stays true);
  - the allowed graph has a cycle;
  - the picture in docs/architecture.md is not the one generated from the real edges (--write redraws it);
  - a tracked debt count grew past the number recorded in docs/architecture.md (the ratchet);
  - a forbidden pattern (a debt paid off to zero) is back, e.g. `kind == "Pod"` in the API server;
  - a one-of-a-kind definition (the one client interface, the one PatchType) is not exactly once in
    its home file, or appears anywhere else.
Usage: check-layering.py [--root DIR] [--write]
"""
import argparse
import os
import re
import sys

DOC = "docs/architecture.md"
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".c")


def block(text, marker):
    """The fenced block that follows `<!-- marker -->`, as (start, end, body)."""
    m = re.search(r"<!-- %s -->\s*\n```[a-z]*\n(.*?)```" % re.escape(marker), text, re.S)
    if not m:
        sys.exit(f"{DOC}: no fenced block after <!-- {marker} -->")
    return m.start(1), m.end(1), m.group(1)


def parse_allowed(body):
    allowed = {}
    for n, line in enumerate(body.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([a-z0-9_]+)\s*->\s*(.*)", line)
        if not m:
            sys.exit(f"{DOC}: allowed-edges line {n}: expected 'module -> dep, dep'")
        deps = [d.strip() for d in m.group(2).split(",") if d.strip()]
        allowed.setdefault(m.group(1), set()).update(deps)
    return allowed


def parse_debt(body):
    debt = {}
    for line in body.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, value = line.rsplit(None, 1)
            debt[name] = int(value)
    return debt


def modules(root):
    src = os.path.join(root, "src")
    return sorted(d for d in os.listdir(src) if os.path.isfile(os.path.join(src, d, "CMakeLists.txt")))


def source_files(root, module):
    for dirpath, _, files in os.walk(os.path.join(root, "src", module)):
        for f in sorted(files):
            if f.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, f)


def include_edges(root, mods):
    edges = {}
    pattern = re.compile(r'^\s*#\s*include\s*"([a-z0-9_]+)/', re.M)
    for m in mods:
        for path in source_files(root, m):
            with open(path, encoding="utf-8", errors="replace") as f:
                for dep in pattern.findall(f.read()):
                    if dep != m and dep in mods:
                        edges.setdefault(m, {}).setdefault(dep, path)
    return edges


def cmake_commands(text, name):
    """The argument lists of every `name(...)` call in a CMakeLists text (comments stripped)."""
    text = re.sub(r"#[^\n]*", "", text)
    for m in re.finditer(r"\b%s\s*\(([^)]*)\)" % name, text):
        yield m.group(1).split()


def link_edges(root, mods):
    owner = {}
    texts = {}
    for m in mods:
        with open(os.path.join(root, "src", m, "CMakeLists.txt")) as f:
            texts[m] = f.read()
        for args in cmake_commands(texts[m], "add_library"):
            owner[args[0]] = m
    edges = {}
    for m in mods:
        for args in cmake_commands(texts[m], "target_link_libraries"):
            for lib in args[1:]:
                dep = owner.get(lib)
                if dep and dep != m:
                    edges.setdefault(m, {}).setdefault(dep, f"src/{m}/CMakeLists.txt: {args[0]} -> {lib}")
    return edges


def find_cycle(graph):
    state = {}

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep] if dep in stack else [node, dep]
            if not state.get(dep):
                cycle = visit(dep, stack + [dep])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if not state.get(node):
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def count(root, paths, regex):
    total = 0
    pattern = re.compile(regex)
    for rel in paths:
        base = os.path.join(root, rel)
        files = [base] if os.path.isfile(base) else [
            os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs if f.endswith(SOURCE_SUFFIXES)]
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as f:
                total += len(pattern.findall(f.read()))
    return total


# What issue 14 replaces, counted so it can only shrink (the goal of each is in docs/architecture.md).
# (Both former counters, list-watch-client-interfaces and informers, reached their goal of one and
# are one-of-a-kind entries below; the mechanism stays for the next debt.)
DEBT_COUNTERS = {}

# Definitions there is exactly one of: the pattern must match once in its home file and nowhere
# else in src/ (a second enum or interface fails, naming the file and line).
ONE_OF_A_KIND = {
    "patch-type-enums": (
        r"\benum\s+(?:class|struct)\s+PatchType\b",
        "src/k8s/api_client.h",
        "PatchType is defined once, in src/k8s/api_client.h: use k8s::PatchType",
    ),
    "api-client-interface": (
        r"\bclass\s+ApiClient\b\s*(?:final\s*)?\{",
        "src/k8s/api_client.h",
        "the client interface is k8s::ApiClient (src/k8s/api_client.h): implement it, do not define another",
    ),
    "informer": (
        r"\bclass\s+Informer\b\s*(?:final\s*)?\{",
        "src/client/informer.h",
        "the informer is client::Informer (src/client/informer.h); keep objects with client::Cache on top of it",
    ),
}

# Debts paid off to zero: any occurrence fails, naming the file and what to do instead.
FORBIDDEN = {
    # The controllers' own list/watch interface and informer, replaced by k8s::ApiClient (the API
    # server's in-process client) and client::Cache over the one Informer.
    "second-client-or-informer": (
        ["src"],
        r"\bclass\s+(?:ObjectClient|ObjectCache|ObjectStream)\b",
        "list and watch through k8s::ApiClient and client::Informer / client::Cache, not a second interface",
    ),
    # Per-kind behaviour is an entry of the strategy table, not a string compare of the kind
    # (`kind == "Pod"`, `"Pod" != type.kind`, `kind().compare("Pod")`).
    "apiserver-kind-compares": (
        ["src/apiserver"],
        r'\bkind\b(?:\(\))?\s*(?:[!=]=\s*"|\.compare\(\s*")|"\w+"\s*[!=]=\s*[\w.>-]*\bkind\b',
        "per-kind behaviour belongs in the strategy table (src/apiserver/registry/strategy.h), not a compare of the kind",
    ),
}


def matches(root, paths, regex):
    pattern = re.compile(regex)
    for rel in paths:
        base = os.path.join(root, rel)
        files = [base] if os.path.isfile(base) else [
            os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs if f.endswith(SOURCE_SUFFIXES)]
        for path in sorted(files):
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if pattern.search(line):
                        yield path, n


def mermaid(real):
    lines = ["flowchart BT"]
    for m in sorted(real):
        for dep in sorted(real[m] - {"common"}):  # everyone uses common: drawn, it hides the rest
            lines.append(f"  {m} --> {dep}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--write", action="store_true", help="redraw the picture in docs/architecture.md")
    opts = ap.parse_args()
    root = os.path.abspath(opts.root)
    doc_path = os.path.join(root, DOC)
    with open(doc_path) as f:
        doc = f.read()

    mods = modules(root)
    allowed = parse_allowed(block(doc, "allowed-edges")[2])
    debt = parse_debt(block(doc, "debt")[2])
    includes = include_edges(root, mods)
    links = link_edges(root, mods)
    real = {}
    for kind in (includes, links):
        for m, deps in kind.items():
            real.setdefault(m, set()).update(deps)

    errors = []
    for m in sorted(set(allowed) - set(mods)):
        errors.append(f"{DOC} lists module '{m}', which is not in src/")
    for m in mods:
        for dep in sorted(real.get(m, ())):
            if dep not in allowed.get(m, ()):
                where = includes.get(m, {}).get(dep) or links[m][dep]
                errors.append(f"forbidden edge {m} -> {dep} ({os.path.relpath(where, root)})")
        for dep in sorted(set(includes.get(m, ())) - set(links.get(m, ()))):
            errors.append(f"{m} includes {dep} ({os.path.relpath(includes[m][dep], root)}) without linking it: "
                          f"link what you include (src/{m}/CMakeLists.txt)")
        for dep in sorted(allowed.get(m, set()) - real.get(m, set())):
            errors.append(f"{DOC} allows {m} -> {dep}, which the code no longer has: remove it from the list")
    cycle = find_cycle(allowed)
    if cycle:
        errors.append("the allowed graph has a cycle: " + " -> ".join(cycle))

    start, end, body = block(doc, "graph")
    picture = mermaid(real)
    if body != picture:
        if opts.write:
            doc = doc[:start] + picture + doc[end:]
            with open(doc_path, "w") as f:
                f.write(doc)
            print(f"{DOC}: picture redrawn")
        else:
            errors.append(f"the picture in {DOC} is not the code's graph: run scripts/check-layering.py --write")

    for name, (paths, regex) in DEBT_COUNTERS.items():
        now = count(root, paths, regex)
        recorded = debt.get(name)
        if recorded is None:
            errors.append(f"{DOC}: debt counter '{name}' is not recorded")
        elif now > recorded:
            errors.append(f"debt '{name}' grew: {now} > {recorded} recorded in {DOC}")
        elif now < recorded:
            print(f"note: debt '{name}' shrank to {now} (recorded {recorded}): lower it in {DOC}")

    for name, (paths, regex, why) in FORBIDDEN.items():
        for path, line in matches(root, paths, regex):
            errors.append(f"forbidden '{name}' at {os.path.relpath(path, root)}:{line}: {why}")
        if name in debt:
            errors.append(f"{DOC}: '{name}' is paid off (a forbidden pattern now): remove its debt line")

    for name, (regex, home, why) in ONE_OF_A_KIND.items():
        at_home = 0
        for path, line in matches(root, ["src"], regex):
            if os.path.relpath(path, root) == home:
                at_home += 1
            else:
                errors.append(f"forbidden '{name}' at {os.path.relpath(path, root)}:{line}: {why}")
        if at_home != 1:
            errors.append(f"'{name}': {home} must define it exactly once (found {at_home})")
        if name in debt:
            errors.append(f"{DOC}: '{name}' is one of a kind now (a forbidden pattern): remove its debt line")

    for e in errors:
        print("check-layering: " + e, file=sys.stderr)
    if errors:
        return 1
    n = sum(len(v) for v in real.values())
    print(f"check-layering: {len(mods)} modules, {n} edges, all allowed, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
