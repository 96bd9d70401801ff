"""Build of segstats' compiled label-PNG reader, ``segstats._native``.

The project's metadata lives in pyproject.toml (PEP 621); this file only adds the
C extension, whose sources are segstats/_native/*.c. zlib is linked at build
time (its headers must be present); libdeflate is loaded at run time when its
shared library is there, so no libdeflate header or library is needed to build.

Environment variables read here (for wheel builds, e.g. Windows with vcpkg):
``SEGSTATS_ZLIB_INCLUDE`` / ``SEGSTATS_ZLIB_LIB`` (folders, ``os.pathsep``-separated)
and ``SEGSTATS_ZLIB_NAME`` (the library name, default ``z``, ``zlib`` on Windows).
"""

from __future__ import annotations

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE_DIR = os.path.join("segstats", "_native")
NEEDS_COMPILER = "segstats needs a C compiler to build from source (or install a wheel): {}"


def _dirs(variable: str) -> list[str]:
    return [part for part in os.environ.get(variable, "").split(os.pathsep) if part]


class BuildNative(build_ext):
    """build_ext with the compiler's own flags, and one clear message when the build fails."""

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args = ["/O2", "/W3"]
        else:
            # no -march: wheels run on any CPU of their platform
            ext.extra_compile_args = ["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing compiler (OSError, PlatformError)
            raise SystemExit("error: " + NEEDS_COMPILER.format(exc)) from None

    def run(self) -> None:
        try:
            super().run()
        except SystemExit:
            raise
        except Exception as exc:  # no compiler found at all (DistutilsPlatformError and the like)
            raise SystemExit("error: " + NEEDS_COMPILER.format(exc)) from None


libraries = [os.environ.get("SEGSTATS_ZLIB_NAME", "zlib" if sys.platform == "win32" else "z")]
if sys.platform.startswith("linux"):
    libraries.append("dl")  # dlopen lives in libdl before glibc 2.34 (an empty stub on musl)

native = Extension(
    "segstats._native",
    sources=sorted(glob.glob(os.path.join(SOURCE_DIR, "*.c"))),
    depends=sorted(glob.glob(os.path.join(SOURCE_DIR, "*.h"))),
    include_dirs=_dirs("SEGSTATS_ZLIB_INCLUDE"),
    library_dirs=_dirs("SEGSTATS_ZLIB_LIB"),
    libraries=libraries,
)

setup(ext_modules=[native], cmdclass={"build_ext": BuildNative})
