"""Builds the Cython fast path and ships the BPF sources inside the package;
everything else is in pyproject.toml."""

import shutil
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

BPF_SOURCES = Path("bpf")


class BuildPy(build_py):
    """Copies bpf/*.c and *.h to hacore/bpf_src, where hacore.vrrp.bpf finds them once installed."""

    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "hacore" / "bpf_src"
        dest.mkdir(parents=True, exist_ok=True)
        for src in sorted(BPF_SOURCES.glob("*.[ch]")):
            shutil.copy2(src, dest / src.name)


ext = Extension(
    "hacore._fastpath",
    ["src/hacore/_fastpath.pyx"],
    depends=["src/hacore/_fastpath_ct.pxi", "src/hacore/_fastpath_sender.pxi"],
    include_dirs=[numpy.get_include(), str(BPF_SOURCES)],
    extra_compile_args=["-O2"],
    libraries=["crypto"],  # HMAC() for the advert sender, which must not take the GIL
)
# force: Cython does not see a change in an included .pxi alone; tools/setup.sh builds only when an input changed.
setup(ext_modules=cythonize([ext], compiler_directives={"language_level": "3"}, force=True),
      cmdclass={"build_py": BuildPy})
