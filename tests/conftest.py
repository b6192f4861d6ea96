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

# The suites in the order their cost grows: each suite's failures show before the next one's
# minutes. The platform suites go last: while a cluster's dozen JVMs hold the 2 cores, the
# session's SparkSession (tests/fixtures/services.py) took 80 s to start instead of 15 s, so
# it is started by the integration suite before them. tests/chaos runs before tests/e2e: they
# share `seed_platform` (tests/fixtures/platform.py), and e2e's last test takes it down.
# `make test` leaves tests/chaos and tests/cluster to `make test-chaos`, a session each.
SUITE_ORDER = ("unit", "architecture", "terraform", "integration", "chaos", "e2e", "cluster")


def _suite_rank(item) -> int:
    parts = item.path.relative_to(item.config.rootpath).parts
    suite = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_suite_rank)  # stable: within a suite, the collected order stays
