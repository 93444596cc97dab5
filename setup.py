"""Packages for setuptools (everything else is in pyproject.toml).

``kdbg`` and its subpackages, plus the repository's top-level ``plugins/`` installed as the
``kdbg_plugins`` package: kdbg's shipped plugins (``ps``, ``files``) must be in the wheel.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["kdbg", "kdbg.*"]), "kdbg_plugins"],
    package_dir={"kdbg_plugins": "plugins"},
)
