#!/usr/bin/env python3
"""Fails when a module of the app crate uses a layer above its own (docs/architecture.md).

The layers of app/src, lowest first; each may use its own and those below it:

  domain       app/src/domain/         plain data and rules, for the server and the browser
  store        app/src/server/store/   the SQL
  server       app/src/server/         server-only services (the `ssr` feature)
  components   app/src/components/     what more than one page shows or reads
  pages        app/src/pages/          one module per page, with its server functions
  routes       app/src/lib.rs          the shell and the routes

A page also never uses another page (only the modules above it in its folder, such as
pages/admin/mod.rs): what two pages share belongs in a lower layer. As every use points down or
stays within a layer, no cycle can run between layers.

Every path that names a module of the crate counts: `use` declarations with their `{...}`
groups, paths in code and attributes (`crate::server::state::app_state()`,
`#[server(output = crate::domain::answer::JsonAnswer)]`), and `super::`/`self::` paths,
resolved from the module they are written in (nested `mod` blocks included). Comments and
string literals do not count. Python 3.11 standard library only.
"""

import re
import sys
from pathlib import Path

LAYERS = ["domain", "store", "server", "components", "pages", "routes"]

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "app" / "src"


def layer_of(module: list[str]) -> str | None:
    """The layer of a module path (segments below the crate root), or None for the root."""
    if not module:
        return None
    first = module[0]
    if first == "server":
        return "store" if module[1:2] == ["store"] else "server"
    if first in ("domain", "components", "pages"):
        return first
    return None


def file_module(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return []
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def is_module(segments: list[str]) -> bool:
    if not segments:
        return True
    base = SRC.joinpath(*segments)
    return base.with_suffix(".rs").is_file() or (base / "mod.rs").is_file()


RAW_STRING = re.compile(r'b?r(#*)"')
CHAR = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'")
IDENT = re.compile(r"\w")


def strip(source: str) -> str:
    """The source with comments and string and char literals blanked out (newlines kept)."""
    out = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif source.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if source.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif source.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", source[i:j]))
            i = j
        elif (raw := RAW_STRING.match(source, i)) and not (i and IDENT.match(source[i - 1])):
            hashes = raw.group(1)
            end = source.find('"' + hashes, i + raw.end())
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", source[i : j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{7f}'); otherwise a lifetime or label, kept.
            lit = CHAR.match(source, i)
            if lit:
                out.append(" " * (lit.end() - i))
                i = lit.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e as f}}` as ["a::b", "a::c::d", "a::c::e"]; `self` in a group is its prefix."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def walk(prefix: str, text: str) -> None:
        if "{" not in text:
            paths.append(prefix + text)
            return
        head, rest = text.split("{", 1)
        inner, depth, start, parts = rest[:-1], 0, 0, []
        for k, ch in enumerate(inner):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(inner[start:k])
                start = k + 1
        parts.append(inner[start:])
        for part in filter(None, parts):
            if part == "self":
                paths.append((prefix + head).removesuffix("::"))
            else:
                walk(prefix + head, part)

    walk("", tree)
    return paths


def resolve(path: list[str], module: list[str]) -> list[str] | None:
    """An absolute module path for `path` written in `module`; None when it leaves the crate."""
    if path[0] == "crate":
        return path[1:]
    if path[0] in ("self", "super"):
        here = list(module)
        rest = list(path)
        if rest[0] == "self":
            rest = rest[1:]
        while rest and rest[0] == "super":
            if not here:
                return None
            here.pop()
            rest = rest[1:]
        return here + rest
    return None


def target_module(absolute: list[str]) -> list[str]:
    """The longest prefix of `absolute` that is a module file of the crate."""
    for k in range(len(absolute), -1, -1):
        if is_module(absolute[:k]):
            return absolute[:k]
    return []


PATH = re.compile(r"(?<![\w$])(crate|super|self)((?:\s*::\s*(?:\w+|\*))+)")
USE = re.compile(r"\buse\s+([^;]+);")
MOD_OPEN = re.compile(r"\bmod\s+(\w+)\s*\{")


def check(path: Path) -> list[str]:
    module = file_module(path)
    own = layer_of(module) if module else "routes"
    if own is None:
        return [f"{path.relative_to(ROOT)}: in no layer; app/src holds lib.rs and the folders "
                "domain, server (with server/store), components and pages"]
    source = strip(path.read_text())
    # Which nested `mod name {` block each offset is in, to resolve super:: from there.
    scopes: list[tuple[int, int, str]] = []
    for match in MOD_OPEN.finditer(source):
        depth, j = 1, match.end()
        while j < len(source) and depth:
            depth += {"{": 1, "}": -1}.get(source[j], 0)
            j += 1
        scopes.append((match.start(), j, match.group(1)))

    def module_at(offset: int) -> list[str]:
        nested = [name for start, end, name in scopes if start <= offset < end]
        return module + nested

    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for use in USE.finditer(source):
        for written in expand_use(use.group(1)):
            found.append((use.start(), written))
        taken.append(use.span())
    for match in PATH.finditer(source):
        if any(start <= match.start() < end for start, end in taken):
            continue
        found.append((match.start(), match.group(0)))

    problems = []
    for offset, written in found:
        segments = [s for s in re.split(r"\s*::\s*", written.strip()) if s]
        if segments[0] not in ("crate", "self", "super"):
            continue
        absolute = resolve(segments, module_at(offset))
        if absolute is None:
            continue
        absolute = [s for s in absolute if s != "*"]
        target = target_module(absolute)
        their = layer_of(target) if target else "routes"
        if their is None:
            their = "routes"
        line = source.count("\n", 0, offset) + 1
        where = f"{path.relative_to(ROOT)}:{line}"
        shown = "crate::" + "::".join(absolute) if absolute else "crate"
        compact = re.sub(r"\s+", "", written)
        if compact != shown:
            shown += f" (written {compact})"
        if LAYERS.index(their) > LAYERS.index(own):
            allowed = ", ".join(LAYERS[: LAYERS.index(own) + 1])
            problems.append(f"{where}: uses {shown}, of layer {their}, above {own} "
                            f"({own} may use {allowed})")
        elif own == "pages" and their == "pages" and target != module[: len(target)]:
            problems.append(f"{where}: uses {shown}, another page (pages do not use each other: "
                            "what two pages share belongs in components or domain)")
    return problems


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    problems = [problem for path in files for problem in check(path)]
    for problem in problems:
        print(f"check-layers: {problem}", file=sys.stderr)
    if problems:
        print(f"check-layers: {len(problems)} import(s) against the layers; see "
              "docs/architecture.md", file=sys.stderr)
        return 1
    print(f"check-layers: {len(files)} files of app/src keep to their layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
