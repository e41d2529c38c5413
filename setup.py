"""The license, in the form this setuptools understands; everything else is in pyproject.toml.

setuptools >= 77 takes an SPDX expression (PEP 639, License-Expression) and deprecates the older
forms with a warning on every install; Debian bookworm's setuptools 66 rejects the expression in
pyproject.toml. Giving it here, in the form each version expects, keeps `pip install .` quiet
and lets `dpkg-buildpackage` build with bookworm's own packages.
"""

import setuptools

LICENSE = "GPL-2.0-or-later"

#: The first setuptools that takes License-Expression (PEP 639).
PEP639_SETUPTOOLS = 77

if int(setuptools.__version__.split(".")[0]) >= PEP639_SETUPTOOLS:
    setuptools.setup(license_expression=LICENSE)
else:
    setuptools.setup(license=LICENSE)
