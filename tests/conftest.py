"""The root of the test package: a clean environment, then the fixtures of tests/fixtures/.

Settings come from the fixtures, never from the developer's shell: every QUANTCORE_*
variable goes before anything imports the platform, and Spark binds to loopback.
"""

from __future__ import annotations

import os

for _name in [name for name in os.environ if name.startswith("QUANTCORE_")]:
    del os.environ[_name]
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.ingest",
    "tests.fixtures.paths",
    "tests.fixtures.platform",
]
