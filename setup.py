"""Everything is in pyproject.toml; this file only ships the checkout's ``zoo/`` (the published
adapters) inside the wheel as ``lava_vision/shipped_zoo``, so an installed package finds its
entries (``lava_vision.zoo.index.zoo_root``) without the checkout."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithZoo(build_py):
    def run(self) -> None:
        super().run()
        zoo = Path(__file__).resolve().parent / "zoo"
        if zoo.is_dir() and not getattr(self, "editable_mode", False):  # editable installs use zoo/ in place
            self.copy_tree(str(zoo), str(Path(self.build_lib) / "lava_vision" / "shipped_zoo"))


setup(cmdclass={"build_py": BuildPyWithZoo})
