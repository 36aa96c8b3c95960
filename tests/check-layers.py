"""check-layers.py -- echochat's core calls only down.

Every file of src/ belongs to a layer (README "Inside").  A file may
include headers of its own layer or of layers below it, never above;
handlers (src/handlers/) include only the handler interface and their own
folder's headers; handler.h itself includes system headers only.  Includes
between files must not go round in a circle.  Each file is one case:
"N passed, N failed" at the end, exit 1 on any failure.
"""
import os
import re
import sys

SRC = os.path.join(os.environ.get("ECHOCHAT_SRCDIR") or
                   os.path.join(os.path.dirname(__file__), ".."), "src")

# Bottom up.  A name is a module: its .c and its .h.
LAYERS = [
    ("util", "xmalloc log parse siphash clock sync tailq"),
    ("loop", "loop stats"),
    ("lines and transports", "line io tls outq framing telnet wsframe ws webpage"),
    ("sockets and admission", "sock admit"),
    ("seams", "handler listener endpoint hapi cluster"),
    ("connections and datagrams", "conn udp"),
    ("handlers", "handlers/echo handlers/upper handlers/chat "
                 "handlers/chat_cmd handlers/chat_settings handlers/room "
                 "handlers/wire handlers/bridge"),
    ("registry", "handlers plugins"),
    ("composition root", "config server metrics daemon systemd main "
                         "defaults"),
]
# Headers that are not modules of ours (autoconf's).
GENERATED = {"autoconf.h"}

LEVEL = {}
for n, (_, names) in enumerate(LAYERS):
    for name in names.split():
        LEVEL[name] = n

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    rel = os.path.relpath(path, SRC)
    return os.path.splitext(rel)[0]


def includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


def resolve(from_path, inc):
    """The module an include names, as the compiler would find it."""
    here = os.path.dirname(from_path)
    for base in (here, SRC):
        p = os.path.normpath(os.path.join(base, inc))
        if os.path.exists(p):
            return module_of(p)
    return None


def check_file(path, problems):
    mod = module_of(path)
    if mod not in LEVEL:
        problems.append("%s: in no layer (add it to tests/check-layers.py "
                        "and the README)" % os.path.relpath(path, SRC))
        return []
    edges = []
    for inc in includes(path):
        if inc in GENERATED:
            continue
        target = resolve(path, inc)
        where = os.path.relpath(path, SRC)
        if target is None:
            problems.append("%s: includes %s, which is not in src/" %
                            (where, inc))
            continue
        if target == mod:
            continue
        edges.append(target)
        if mod == "handler":
            problems.append("%s: the handler interface includes %s; it "
                            "must stand alone" % (where, inc))
        elif mod.startswith("handlers/") and target != "handler" and \
                not target.startswith("handlers/"):
            problems.append("%s: a handler includes %s; handlers see only "
                            "handler.h" % (where, inc))
        elif target not in LEVEL:
            problems.append("%s: includes %s, in no layer" % (where, inc))
        elif LEVEL[target] > LEVEL[mod]:
            problems.append("%s (%s) includes %s (%s): a call upward" % (
                where, LAYERS[LEVEL[mod]][0], inc, LAYERS[LEVEL[target]][0]))
    return edges


def find_cycle(graph):
    """A circle in the module graph, as a list, or None."""
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if state.get(n) is None:
                c = visit(n)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if state.get(m) is None:
            c = visit(m)
            if c:
                return c
    return None


def main():
    files = []
    for root, _, names in os.walk(SRC):
        for n in sorted(names):
            if n.endswith((".c", ".h")) and n not in GENERATED and \
                    n != "defaults.c":
                files.append(os.path.join(root, n))
    graph = {}
    passed = failed = 0
    for path in sorted(files):
        problems = []
        graph.setdefault(module_of(path), set()).update(
            check_file(path, problems))
        if problems:
            failed += 1
            for p in problems:
                print("FAIL: " + p)
        else:
            passed += 1
    cycle = find_cycle(graph)
    if cycle:
        failed += 1
        print("FAIL: includes go round in a circle: " + " -> ".join(cycle))
    else:
        passed += 1
    print("checked %d files of %d layers" % (len(files), len(LAYERS)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
