#!/usr/bin/env python3
"""linkmap-size.py MAP [--objects N]: what each library (and, with
--objects, each of the N largest objects) costs in a static executable, read
from GNU ld's link map (-Wl,-Map=FILE).  Counts the input sections ld kept
in the output sections that take room in the file (code, read-only data,
initialised data, unwind tables); .bss (zeroed at start, no file bytes) is
a column of its own.  Used by bench/device-size.sh."""
import collections
import os
import re
import sys

# Output sections that occupy no file bytes, or that strip removes.
NOFILE = {".bss", ".tbss"}
DROP = re.compile(r"^\.(debug|comment|note\.gnu\.build|stab|ARM\.attributes|gnu\.attributes)")
LINE = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def owner(path):
    """(library, object) for an input file name as ld prints it."""
    m = re.match(r"^(.*?)\((.*)\)$", path)
    if m:
        return os.path.basename(m.group(1)), m.group(2)
    # Our objects: .../CMakeFiles/<target>.dir/.../file.c.o
    m = re.search(r"CMakeFiles/([^/]+)\.dir/", path)
    if m:
        return m.group(1) + " (ours)", os.path.basename(path)
    return os.path.basename(path) + " (crt)", os.path.basename(path)


def main():
    args = sys.argv[1:]
    nobj = 0
    if "--objects" in args:
        i = args.index("--objects")
        nobj = int(args[i + 1])
        del args[i:i + 2]
    libs = collections.defaultdict(lambda: [0, 0])
    objs = collections.defaultdict(int)
    out = None
    pending = None
    in_map = False
    with open(args[0], errors="replace") as f:
        for line in f:
            if line.startswith("Linker script and memory map"):
                in_map = True
                continue
            if not in_map:
                continue
            if line and not line[0].isspace() and line.strip():
                out = line.split()[0]
                pending = None
                continue
            if out is None or DROP.match(out) or line.startswith(" *"):
                pending = None
                continue
            s = line.rstrip("\n")
            m = LINE.match(s)
            name = None
            if m and pending is not None:
                name = pending
            elif re.match(r"^ \.\S+\s+0x", s):
                parts = s.split()
                if len(parts) >= 4:
                    name = parts[0]
                    m = re.match(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$",
                                 " ".join(parts[1:]).join(["  ", ""]))
            elif re.match(r"^ \.\S+$", s) or re.match(r"^ COMMON$", s):
                pending = s.strip()
                continue
            elif re.match(r"^ COMMON\s+0x", s):
                parts = s.split()
                name = "COMMON"
                m = re.match(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$",
                             "  " + " ".join(parts[1:]))
            pending = None
            if not m or name is None:
                continue
            size = int(m.group(2), 16)
            if size == 0:
                continue
            lib, obj = owner(m.group(3).strip())
            nofile = out in NOFILE or name == "COMMON"
            libs[lib][1 if nofile else 0] += size
            if not nofile:
                objs[(lib, obj)] += size
    total = sum(v[0] for v in libs.values())
    print("%-34s %10s %6s %9s" % ("library", "bytes", "share", "bss"))
    for lib, (b, z) in sorted(libs.items(), key=lambda kv: -kv[1][0]):
        print("%-34s %10d %5.1f%% %9d" % (lib, b, 100.0 * b / total if total else 0, z))
    print("%-34s %10d %6s %9d" % ("total (code + data in the file)", total, "",
                                     sum(v[1] for v in libs.values())))
    if nobj:
        print()
        print("the %d largest objects:" % nobj)
        print("%-34s %-32s %10s" % ("library", "object", "bytes"))
        for (lib, obj), b in sorted(objs.items(), key=lambda kv: -kv[1])[:nobj]:
            print("%-34s %-32s %10d" % (lib, obj[:32], b))


main()
