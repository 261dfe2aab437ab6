"""Builds the infermetrics wheel: python/infermetrics plus libinfermetrics.so inside the package.

setuptools-rust runs `cargo rustc --lib --release --crate-type cdylib` on this crate
(Binding.NoBinding: the module loads the library with ctypes, so nothing links against
libpython) and strips its debug info (`strip -S`). Cargo's target directory is the crate's own
`target/` (or $CARGO_TARGET_DIR), so a tree that already ran `cargo build --release` recompiles
only this crate, not its dependencies.

The library is the same for every Python 3, so the wheel is tagged py3-none-<platform>;
`auditwheel repair` turns linux_x86_64 into the manylinux tag its glibc symbols allow.
"""
import os

from setuptools import setup
from setuptools_rust import Binding, RustExtension, Strip, build_rust

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

LIBRARY = "libinfermetrics.so"


class build_rust_library(build_rust):
    """Puts the cdylib in the package as libinfermetrics.so, not as a CPython extension name."""

    def get_dylib_ext_path(self, ext, target_fname):
        return os.path.join(os.path.dirname(super().get_dylib_ext_path(ext, target_fname)), LIBRARY)


class bdist_wheel_any_python(bdist_wheel):
    def get_tag(self):
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat


setup(
    rust_extensions=[RustExtension("infermetrics.libinfermetrics", path="Cargo.toml", binding=Binding.NoBinding,
                                   strip=Strip.Debug, py_limited_api=False)],
    cmdclass={"build_rust": build_rust_library, "bdist_wheel": bdist_wheel_any_python},
    options={"build": {"build_base": "target/python-build"}},  # not CMake's build/ folder
)
