"""The package list, which pyproject.toml cannot state: bnn2hw's Python packages found as usual,
plus ``hw/`` and ``boards/`` as the data packages ``bnn2hw.assets.hw`` / ``bnn2hw.assets.boards``
(their directories and files: ``[tool.setuptools.package-dir]`` and ``package-data`` in
pyproject.toml; ``bnn2hw.assets`` finds them at run time)."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["bnn2hw*"]) + ["bnn2hw.assets.hw", "bnn2hw.assets.boards"])
