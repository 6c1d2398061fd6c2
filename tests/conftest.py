"""Test configuration: hypothesis profiles chosen by HYPOTHESIS_PROFILE.

``dev`` (default) keeps local runs quick; ``ci`` (set by .ci/run) digs deeper.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
