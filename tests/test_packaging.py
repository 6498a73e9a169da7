"""The distribution ships every file the installed packages read at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGES = ("pytest_stages", "stages", "solution")


def _package_data() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(REPOSITORY / "pyproject.toml", "rb") as file:
        settings = tomllib.load(file)
    return settings["tool"]["setuptools"]["package-data"]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_data_covers_files(package: str) -> None:
    folder = REPOSITORY / package
    data_files = {
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
    }
    patterns = _package_data().get(package, [])

    shipped = {path for pattern in patterns for path in folder.glob(pattern)}

    missing = sorted(str(path.relative_to(REPOSITORY)) for path in data_files - shipped)
    assert not missing, f"not in [tool.setuptools.package-data] {package}: {missing}"
