"""Builds the Cython fast path; everything else is in pyproject.toml."""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ext = Extension(
    "hacore._fastpath",
    ["src/hacore/_fastpath.pyx"],
    include_dirs=[numpy.get_include(), "bpf"],
    extra_compile_args=["-O2"],
)
setup(ext_modules=cythonize([ext], compiler_directives={"language_level": "3"}))
