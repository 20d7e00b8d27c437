#!/usr/bin/env python3
"""Pack the ``gpu`` extra (faiss-gpu-cuvs and its cuVS/RAPIDS libraries) for a CUDA 13 node that cannot reach a
package index, small enough to carry: a site folder as ``.tar.xz`` parts.

The wheels are ~370 MB, mostly GPU kernels for six architectures. This keeps one (``--sm``, default 90: H100/H200):
in each library's ``.nv_fatbin`` section the payloads of the other architectures' machine code, and of PTX newer than
``--sm``, are zeroed (entry headers kept, so the CUDA runtime still reads the section and picks the kept entry); the
files keep their size but compress to ~80 MB. The node must supply the CUDA 13 libraries the wheels do not bring
(cuBLAS, cuRAND, cuSOLVER, cuSPARSE, nvJitLink, NVRTC, NCCL; PyTorch's CUDA 13 wheels install them).

    python scripts/pack_gpu_site.py --out .gpu --part-mb 40

On the node (``python3`` with torch for CUDA 13; the parts copied to ``.gpu/``)::

    mkdir -p /tmp/site && cat .gpu/site.tar.xz.part-* | python3 -c "import sys, tarfile; \\
        tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall('/tmp/site')"
    cu13=$(python3 -c "import nvidia.cu13 as m; print(list(m.__path__)[0])")/lib
    for f in "$cu13"/*; do [ -e /tmp/site/nvidia/cu13/lib/${f##*/} ] || ln -s "$f" /tmp/site/nvidia/cu13/lib/; done
    export PYTHONPATH=/tmp/site:$PWD LD_LIBRARY_PATH=/tmp/site/nvidia/cu13/lib:$(python3 -c "import nvidia, os; \\
        print(':'.join(os.path.join(p, d, 'lib') for p in nvidia.__path__ for d in os.listdir(p)))")
    scripts/gpu-check.sh MINILM_CONFIG_DIR

(faiss-gpu-cuvs loads its CUDA libraries from the first ``nvidia/cu13/lib`` on the path: the links put the node's
next to the packed CUDA runtime.)
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

WHEELS = ["faiss-gpu-cuvs==1.15.1", "libcuvs-cu13==26.6.*", "libraft-cu13==26.6.*", "librmm-cu13==26.6.*",
          "rapids-logger==0.2.*", "nvidia-cuda-runtime>=13.2,<14"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64"]
FATBIN_MAGIC = b"\x50\xed\x55\xba"
PTX, ELF = 1, 2


def fatbin_section(path: Path) -> tuple[int, int] | None:
    """(file offset, size) of ``path``'s ``.nv_fatbin`` section, or None."""
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if ".nv_fatbin" in fields:
            at = fields.index(".nv_fatbin")
            return int(fields[at + 3], 16), int(fields[at + 4], 16)
    return None


def keep_one_architecture(path: Path, sm: int) -> int:
    """Zero the fatbin payloads an sm_``sm`` device cannot use (other machine code, PTX newer than ``sm``) in place;
    return the bytes zeroed. Layout: containers (magic, version u16, header size u16, body size u64) of entries
    (kind u16, u16, header size u32, payload size u64, …, architecture u32 at byte 28)."""
    section = fatbin_section(path)
    if section is None:
        return 0
    data = bytearray(path.read_bytes())
    pos, end = section[0], section[0] + section[1]
    zeroed = 0
    while pos < end:
        if data[pos:pos + 4] != FATBIN_MAGIC:
            pos += 8  # containers are 8-byte aligned
            continue
        _, _, header, body = struct.unpack_from("<IHHQ", data, pos)
        entry, last = pos + header, pos + header + body
        while entry < last:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            if not ((kind == ELF and arch == sm) or (kind == PTX and arch <= sm)):
                data[entry + entry_header:entry + entry_header + payload] = bytes(payload)
                zeroed += payload
            entry += entry_header + payload
        pos = last
    path.write_bytes(data)
    return zeroed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(".gpu"), help="folder for the parts (default .gpu)")
    p.add_argument("--sm", type=int, default=90, help="the GPU architecture to keep (default 90)")
    p.add_argument("--part-mb", type=int, default=40, help="size of each part in MB (default 40)")
    p.add_argument("--python-version", default="3.12", help="the node's Python (default 3.12)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpu-site-") as tmp:
        wheels, site = Path(tmp) / "wheels", Path(tmp) / "site"
        platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", args.python_version, "--implementation", "cp", *platforms,
                        "-d", str(wheels), *WHEELS], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *map(str, sorted(wheels.glob("*.whl")))], check=True)
        for folder in [d for d in site.rglob("include") if d.is_dir()]:
            shutil.rmtree(folder, ignore_errors=True)
        for static in site.rglob("*.a"):
            static.unlink()
        for library in sorted(site.rglob("*.so*")):
            if library.is_file() and not library.is_symlink() and (zeroed := keep_one_architecture(library, args.sm)):
                print(f"{library.relative_to(site)}: {zeroed / 1e6:.0f} MB of other architectures' kernels zeroed")
        args.out.mkdir(parents=True, exist_ok=True)
        packed = Path(tmp) / "site.tar.xz"
        with lzma.open(packed, "wb", preset=9) as xz, tarfile.open(fileobj=xz, mode="w|") as tar:
            tar.add(site, arcname=".")
        for old in args.out.glob("site.tar.xz.part-*"):
            old.unlink()
        chunk, blob = args.part_mb * 1_000_000, packed.read_bytes()
        for number, start in enumerate(range(0, len(blob), chunk)):
            (args.out / f"site.tar.xz.part-{number:02d}").write_bytes(blob[start:start + chunk])
        print(f"{len(blob) / 1e6:.0f} MB in {-(-len(blob) // chunk)} parts under {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
