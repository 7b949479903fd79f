"""The lab tests need torch; without it they are skipped."""

import pytest

pytest.importorskip("torch")
