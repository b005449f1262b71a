"""pyproject.toml as setuptools reads it on every install: no deprecation warnings, and the license said the way
packaging tools read it (an SPDX expression and the file it names)."""

from __future__ import annotations

import warnings

from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

from tests.support.paths import ROOT


def test_setuptools_reads_the_project_without_a_license_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distribution = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    said = [str(warning.message) for warning in caught]
    assert not [message for message in said if "license" in message.lower()], said
    assert distribution.metadata.license_expression == "Apache-2.0"
    assert [str(path) for path in distribution.metadata.license_files] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()
