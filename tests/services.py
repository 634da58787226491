"""What to do when a server the suite starts is not installed: fail, saying how to install it.

`make install` installs them (as root, with apt-get) or names the command. Whoever knows what
they are doing may set RAY_AGENTS_TESTS_ALLOW_MISSING=1 to skip those tests instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

ALLOW_MISSING = "RAY_AGENTS_TESTS_ALLOW_MISSING"


def missing(what: str, package: str) -> NoReturn:
    """Fail (or, if allowed, skip) the test that needs `what`, naming the Debian package."""
    message = f"{what} is not installed: run `make install` as root, or `apt-get install {package}`"
    if os.environ.get(ALLOW_MISSING) == "1":
        pytest.skip(f"{message} ({ALLOW_MISSING}=1 turns this failure into a skip)")
    pytest.fail(f"{message} (or set {ALLOW_MISSING}=1 to skip the tests that need it)")
