#!/usr/bin/python3
"""Checks every translation unit of dmgn (framework, CLI and tests) against the headers of the
GPU machine's CUDA LibTorch, without a GPU and without its libraries.

    tools/cuda_compile_check.py [BUILD_DIR] [--toolchain TARBALL] [--jobs N] [--only REGEX]

What it catches, on a machine that has only Debian's LibTorch 1.13 (CI):
  1. code that does not compile against LibTorch 2.x and the fmt 12 headers it ships (the API
     differences that core/compat.h must hide, fmt::join's move to <fmt/ranges.h>, ...);
  2. objects that reference a symbol of a library that LibTorch carries only as headers (fmt,
     oneDNN, fbgemm, ...): such a build compiles on the GPU machine and fails to link there
     (fmt::v12::vformat is the one seen: framework/CMakeLists.txt uses fmt header-only);
  3. a translation unit that silently picked up Debian's LibTorch 1.13 headers from /usr/include
     instead of the 2.x ones.

How: BUILD_DIR (default build/) is the normal CMake build tree, already built; its
compile_commands.json gives each file's real flags. For 1 and 3, Debian's LibTorch include
folder and defines are replaced by the toolchain's (the definitions the CUDA build gets from
Caffe2Targets.cmake, plus DMGN_WITH_CUDA, as framework/CMakeLists.txt sets for a CUDA LibTorch;
no Gloo headers and no HDF5, as on the GPU machine), and every translation unit of the build (a
source, or a unity batch of sources: cmake/BuildCost.cmake) is checked with clang's
-fsyntax-only against a precompiled <torch/torch.h> whose template instantiations are made once
(-fpch-instantiate-templates); the dependency list it writes shows which headers were read
(files that include no LibTorch header are checked without the precompiled header). clang, not
GCC: GCC re-instantiates the header's templates in every file that loads its precompiled header
(about 6 s a file here, the larger part of the old GCC check's 525 s), and the CUDA build's
semantics are the same C++ for both. For 2, the build's own objects are read with `nm -uC`:
they are compiled with the same project flags (fmt header-only, the same includes of LibTorch's
internals) and would reference the same symbols; the difference between LibTorch 1.13's and
2.11's inline code is what this cannot see, and the GPU machine's build is the final word.

The toolchain is ../shared/toolchains/libtorch-*-headers.tar.xz beside the repository
(shared/toolchains/README.md), the CUDA headers /usr/local/cuda*/include, clang++ from Debian.
Where one is missing (a user's own clone), the check is skipped with that reason: exit status 77,
which CTest reports as skipped. Exit 1 when a file fails to compile or an object fails a check.
"""
import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

SKIP = 77
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Definitions of the CUDA LibTorch's CMake targets (share/cmake/Caffe2/Caffe2Targets.cmake:
# torch_cpu and torch_cuda's INTERFACE_COMPILE_DEFINITIONS), and the project's own for a CUDA
# LibTorch (framework/CMakeLists.txt). The GPU bundle builds without HDF5 and the wheel has no
# Gloo headers, so DMGN_HAVE_HDF5 and DMGN_HAVE_GLOO_HEADERS are left out.
CUDA_DEFINES = ["USE_DISTRIBUTED", "USE_C10D_GLOO", "USE_RPC", "USE_TENSORPIPE", "USE_NVSHMEM",
                "USE_C10D_NCCL", "DMGN_WITH_CUDA=1"]
# Flags of the Debian build that describe Debian's LibTorch or this machine's optional
# libraries, dropped before the toolchain's are added.
DROP_DEFINE = re.compile(r"^-D(USE_[A-Z0-9_]+|DMGN_HAVE_GLOO_HEADERS|DMGN_HAVE_HDF5|GFLAGS_IS_A_DLL|"
                         r"GLOG_CUSTOM_PREFIX_SUPPORT|DMGN_WITH_CUDA)(=.*)?$")
DROP_INCLUDE = re.compile(r"(/torch/csrc/api/include|/hdf5/)")
# Libraries that LibTorch ships only as headers in its include folder (compiled into its own
# shared objects, not exported for us): an object referencing one of their symbols cannot link
# against LibTorch alone. Demangled C++ namespaces and C prefixes.
HEADER_ONLY_LIBS = {
    "fmt": re.compile(r"^fmt::"),
    "oneDNN": re.compile(r"^(dnnl|dnnl_|oneapi::dnnl)"),
    "fbgemm": re.compile(r"^fbgemm::"),
    "kineto": re.compile(r"^libkineto::"),
    "tensorpipe": re.compile(r"^tensorpipe::"),
    "protobuf": re.compile(r"^google::protobuf::"),
    "sleef": re.compile(r"^Sleef_"),
    "cpuinfo": re.compile(r"^cpuinfo_"),
    "pthreadpool": re.compile(r"^pthreadpool_"),
    "XNNPACK": re.compile(r"^xnn_"),
    "NNPACK/QNNPACK": re.compile(r"^(nnp_|pytorch_qnnp_)"),
}
DEBIAN_TORCH_HEADERS = re.compile(r"^/usr/include/(torch|ATen|c10|caffe2)/")


def skip(reason):
    print(f"cuda_compile_check: skipped: {reason}")
    sys.exit(SKIP)


def find_toolchain(explicit):
    if explicit:
        if not os.path.isfile(explicit):
            sys.exit(f"cuda_compile_check: --toolchain {explicit}: no such file")
        return explicit
    hits = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "toolchains", "libtorch-*-headers.tar.xz")))
    if not hits:
        skip(f"no LibTorch header toolchain at {os.path.normpath(os.path.join(ROOT, '..', 'shared', 'toolchains'))} "
             "(it travels with the development workplace, not with a clone)")
    return hits[-1]


def find_clang():
    for c in ["clang++", "clang++-19", "clang++-18", "clang++-17", "clang++-16", "clang++-15", "clang++-14"]:
        for d in os.environ.get("PATH", "/usr/bin").split(os.pathsep) + ["/usr/bin"]:
            if os.access(os.path.join(d, c), os.X_OK):
                return os.path.join(d, c)
    skip("no clang++ (apt install clang; scripts/setup.sh does)")


def find_cuda_include():
    for d in ["/usr/local/cuda/include"] + sorted(glob.glob("/usr/local/cuda-*/include"), reverse=True):
        if os.path.isfile(os.path.join(d, "cuda_runtime_api.h")):
            return d
    skip("no CUDA headers (cuda_runtime_api.h under /usr/local/cuda*/include)")


def unpack(tarball, dest):
    stamp = os.path.join(dest, ".unpacked")
    key = f"{os.path.basename(tarball)} {os.path.getsize(tarball)} {int(os.path.getmtime(tarball))}"
    if os.path.isfile(stamp) and open(stamp).read() == key:
        return
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tarball) as t:
        t.extractall(dest)
    with open(stamp, "w") as f:
        f.write(key)


def output_of(args):
    return args[args.index("-o") + 1] if "-o" in args else None


INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
TORCH_HEADER = re.compile(r"^(torch|ATen|c10)/")
_torch_memo = {}


def includes_torch(path, seen=None):
    """Whether the file includes a LibTorch header, itself or through the project's own headers
    (quoted or angled includes that resolve under framework/ or beside the file)."""
    if path in _torch_memo:
        return _torch_memo[path]
    seen = seen if seen is not None else set()
    if path in seen:
        return False
    seen.add(path)
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return False
    found = False
    for inc in INCLUDE.findall(text):
        if TORCH_HEADER.match(inc):
            found = True
            break
        for base in (os.path.dirname(path), os.path.join(ROOT, "framework"), os.path.join(ROOT, "tests")):
            cand = os.path.join(base, inc)
            if os.path.isfile(cand):
                if includes_torch(os.path.normpath(cand), seen):
                    found = True
                break
        if found:
            break
    _torch_memo[path] = found
    return found


def uses_torch(entry):
    """Files that include no LibTorch header skip the precompiled header: forcing it on them
    costs ~4 s each for nothing (and would hide a header that forgets its own includes)."""
    return includes_torch(os.path.normpath(entry["file"]))


# GCC options clang does not take (warnings it does not know are only warnings).
GCC_ONLY = re.compile(r"^-(fno-semantic-interposition|fconcepts-diagnostics-depth=.*|fdiagnostics-color=.*)$")


def rewrite(args, torch_inc, cuda_inc, pch, clang):
    """The compile flags of one Debian-build command, retargeted at the CUDA LibTorch headers and
    at clang (args[0], the build's compiler, is replaced)."""
    out, i = ["-Wno-unknown-warning-option"], 1
    while i < len(args):
        a = args[i]
        if a in ("-o", "-c", "-MF", "-MT", "-include"):
            i += 2
            continue
        if a == "-isystem" or a == "-I":
            if not DROP_INCLUDE.search(args[i + 1]):
                out += [a, args[i + 1]]
            i += 2
            continue
        if (a.startswith("-I") and DROP_INCLUDE.search(a)) or DROP_DEFINE.match(a):
            i += 1
            continue
        if a.startswith("-O") or a in ("-MD", "-MMD", "-Winvalid-pch", "-g") or a.startswith("-include") or \
                GCC_ONLY.match(a):
            i += 1
            continue
        if a == "-x":
            i += 2
            continue
        out.append(a)
        i += 1
    inc = ["-isystem", torch_inc, "-isystem", os.path.join(torch_inc, "torch", "csrc", "api", "include"),
           "-isystem", cuda_inc]
    defs = ["-D" + d for d in CUDA_DEFINES]
    tail = ["-O0"] + (["-include-pch", pch] if pch else [])
    return [clang] + defs + inc + out + tail


def is_unity(path):
    return os.path.basename(os.path.dirname(path)) == "Unity" and path.endswith(".cxx")


def unity_members(path):
    """The sources a CMake unity batch includes (none for an ordinary source)."""
    if not is_unity(path):
        return []
    return [os.path.normpath(m) for m in INCLUDE.findall(open(path, errors="replace").read())]


def label(path):
    """A source's path in the repository, or a unity batch's name and the sources it holds."""
    members = unity_members(path)
    if not members:
        return os.path.relpath(path, ROOT)
    name = os.path.basename(path)[len("unity_"):-len("_cxx.cxx")]
    folder = os.path.relpath(os.path.dirname(members[0]), ROOT) if members else "?"
    return f"{folder}/{{{','.join(os.path.basename(m) for m in members)}}} (unity batch {name})"


def compile_one(job):
    src, cmd, obj, dep, cwd = job
    os.makedirs(os.path.dirname(dep), exist_ok=True)
    full = cmd + ["-fsyntax-only", "-MMD", "-MF", dep, "-MT", src, src]
    t0 = time.time()
    r = subprocess.run(full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return src, r.returncode, r.stdout, time.time() - t0


def undefined_symbols(obj):
    r = subprocess.run(["nm", "-uC", obj], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    syms = []
    for line in r.stdout.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0] in ("U", "w"):
            syms.append(parts[1])
    return syms, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--toolchain", help="the headers tarball (default: ../shared/toolchains/libtorch-*-headers.tar.xz)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", action="store_true", help="keep the dependency lists (BUILD_DIR/cudacheck/deps)")
    ap.add_argument("--only", metavar="REGEX", help="check only the files whose path matches (development)")
    a = ap.parse_args()

    tarball = find_toolchain(a.toolchain)
    cuda_inc = find_cuda_include()
    clang = find_clang()
    ccj = os.path.join(a.build_dir, "compile_commands.json")
    if not os.path.isfile(ccj):
        sys.exit(f"cuda_compile_check: {ccj} missing: configure the build first (CMAKE_EXPORT_COMPILE_COMMANDS "
                 "is on in CMakeLists.txt)")
    work = os.path.join(os.path.abspath(a.build_dir), "cudacheck")
    tc = os.path.join(work, "toolchain")
    t0 = time.time()
    unpack(tarball, tc)
    torch_inc = os.path.join(tc, "include")
    if not os.path.isfile(os.path.join(torch_inc, "torch", "csrc", "api", "include", "torch", "torch.h")):
        sys.exit(f"cuda_compile_check: {tarball} has no include/torch/csrc/api/include/torch/torch.h")
    version = "?"
    for vh in glob.glob(os.path.join(torch_inc, "torch", "**", "version.h"), recursive=True):
        parts = dict(re.findall(r"#define TORCH_VERSION_(MAJOR|MINOR|PATCH) (\d+)", open(vh).read()))
        if len(parts) == 3:
            version = f"{parts['MAJOR']}.{parts['MINOR']}.{parts['PATCH']}"
            break

    # Sources, and the unity batches that hold the others (cmake/BuildCost.cmake, DMGN_UNITY).
    entries = [e for e in json.load(open(ccj))
               if (e["file"].endswith(".cpp") or is_unity(e["file"])) and "cmake_pch" not in e["file"]]
    if a.only:
        entries = [e for e in entries if any(re.search(a.only, f) for f in [e["file"]] + unity_members(e["file"]))]
    if not entries:
        sys.exit(f"cuda_compile_check: no .cpp entries in {ccj}")

    # One precompiled <torch/torch.h> with the flags of the library's first file, its template
    # instantiations made once.
    pch_dir = os.path.join(work, "pch")
    os.makedirs(pch_dir, exist_ok=True)
    header = os.path.join(pch_dir, "torch_pch.h")
    with open(header, "w") as f:
        f.write("#include <torch/torch.h>\n")
    pch = header + ".pch"
    lib = next((e for e in entries if "/framework/" in e["file"] and "/cli/" not in e["file"]), entries[0])
    base = rewrite(shlex.split(lib["command"]), torch_inc, cuda_inc, None, clang)
    r = subprocess.run(base + ["-fpch-instantiate-templates", "-x", "c++-header", header, "-o", pch],
                       cwd=lib["directory"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout[-4000:])
        sys.exit("cuda_compile_check: <torch/torch.h> of the toolchain does not compile with the build's flags")
    t_pch = time.time() - t0

    jobs = []
    depdir = os.path.join(work, "deps")
    for e in entries:
        rel = os.path.relpath(e["file"], a.build_dir if is_unity(e["file"]) else ROOT).replace(os.sep, "_")
        args = shlex.split(e["command"])
        obj = e.get("output") or output_of(args)  # the build's own object (nm, item 2)
        obj = obj if obj is None or os.path.isabs(obj) else os.path.join(e["directory"], obj)
        jobs.append((e["file"], rewrite(args, torch_inc, cuda_inc, pch if uses_torch(e) else None, clang),
                     obj, os.path.join(depdir, rel + ".d"), e["directory"]))
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        results = list(ex.map(compile_one, jobs))

    failures = []
    for src, code, out, _ in results:
        if code != 0:
            errs = [l for l in out.splitlines() if "error" in l][:6]
            failures.append(f"{label(src)}: does not compile\n    " + "\n    ".join(errs or out.splitlines()[-6:]))
        elif "precompiled header" in out or "PCH file" in out:
            failures.append(f"{label(src)}: the precompiled <torch/torch.h> was rejected:\n    {out.strip()[:400]}")
    compiled = {src for src, code, _, _ in results if code == 0}
    refs = 0
    for src, _, obj, dep, _ in jobs:
        if src not in compiled:
            continue
        if not obj or not os.path.isfile(obj):
            failures.append(f"{label(src)}: its object {obj} is missing: build first")
            continue
        syms, err = undefined_symbols(obj)
        if syms is None:
            failures.append(f"{label(src)}: nm failed: {err}")
            continue
        bad = {}
        for s in syms:
            for lib_name, pat in HEADER_ONLY_LIBS.items():
                if pat.match(s):
                    bad.setdefault(lib_name, []).append(s)
        for lib_name, ss in bad.items():
            refs += len(ss)
            failures.append(f"{label(src)}: references {len(ss)} symbol(s) of {lib_name}, which "
                            f"LibTorch ships only as headers (the link fails on the GPU machine), e.g. {ss[0]}")
        if os.path.isfile(dep):
            deps = open(dep).read().replace("\\\n", " ").split()
            leaked = sorted({d for d in deps if DEBIAN_TORCH_HEADERS.match(d)})
            if leaked:
                failures.append(f"{label(src)}: included Debian's LibTorch headers instead of the "
                                f"toolchain's, e.g. {leaked[0]}")
    if not a.keep:
        for _, _, _, dep, _ in jobs:
            if os.path.exists(dep):
                os.remove(dep)

    slowest = sorted(results, key=lambda r: -r[3])[:3]
    print(f"cuda_compile_check: LibTorch {version} headers ({os.path.basename(tarball)}), CUDA headers {cuda_inc}, "
          f"{os.path.basename(clang)}")
    print(f"  {len(jobs)} translation units, {len(compiled)} compiled, {len(failures)} problem(s); "
          f"precompiled header {t_pch:.0f} s, total {time.time() - t0:.0f} s with {a.jobs} jobs; slowest: "
          + ", ".join(f"{label(s)} {t:.0f} s" for s, _, _, t in slowest))
    if failures:
        print("\n".join("  FAIL " + f for f in failures))
        return 1
    print("  ok: every file compiles with the CUDA build's defines, and no object of this build references a "
          "symbol of a library that LibTorch ships only as headers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
