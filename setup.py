"""Build step of the Python package (pyproject.toml): `make` builds libmxblas.so
and the .so is copied into the mxblas package.

MXBLAS_CUDA=0|1|auto (default auto) chooses the build: auto builds the CUDA
backend only when nvcc is found AND `nvidia-smi -L` lists a GPU, so a machine
without a GPU builds the CPU library quickly. The library is built in
build-pip-cuda0/ (or -cuda1/) of the repository, or in $MXBLAS_BUILD_DIR.
"""
import os
import re
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(ROOT, "include", "mxblas.h")) as f:
        h = f.read()
    return ".".join(re.search(rf"#define MXB_VERSION_{p} (\d+)", h).group(1) for p in ("MAJOR", "MINOR", "PATCH"))


def _has_nvcc():
    return shutil.which("nvcc") is not None or os.access("/usr/local/cuda/bin/nvcc", os.X_OK)


def _has_gpu():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.startswith("GPU") for line in out.splitlines())


def cuda_choice():
    v = os.environ.get("MXBLAS_CUDA", "auto").strip().lower()
    if v in ("0", "1"):
        return v
    if v != "auto":
        raise SystemExit(f"MXBLAS_CUDA must be 0, 1 or auto, not {v!r}")
    return "1" if _has_nvcc() and _has_gpu() else "0"


def build_dir(cuda):
    """Where make builds the library: a folder of its own, so that it never mixes with a
    `make` build of other settings; MXBLAS_BUILD_DIR names one (`make test-python-installed`
    passes its own build)."""
    return os.path.abspath(os.environ.get("MXBLAS_BUILD_DIR") or os.path.join(ROOT, f"build-pip-cuda{cuda}"))


class BuildWithLibrary(build_py):
    """build_py, then `make` the shared library and put it inside the package."""

    def run(self):
        super().run()
        cuda = cuda_choice()
        build = build_dir(cuda)
        jobs = str(os.cpu_count() or 2)
        print(f"mxblas: building libmxblas.so (CUDA={cuda}) in {build}")
        subprocess.run(["make", "-C", ROOT, f"CUDA={cuda}", f"BUILD={build}", f"-j{jobs}",
                        os.path.join(build, "libmxblas.so")], check=True)
        dst = os.path.join(self.build_lib, "mxblas", "libmxblas.so")
        # the real file, not the soname symlink chain: the package holds one .so
        shutil.copyfile(os.path.realpath(os.path.join(build, "libmxblas.so")), dst)
        os.chmod(dst, 0o755)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform."""

    def has_ext_modules(self):
        return True


# setuptools' own staging goes next to the library, not into the repository's build/
setup(version=_version(), cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution,
      options={"build": {"build_base": os.path.join(build_dir(cuda_choice()), "python")}})
