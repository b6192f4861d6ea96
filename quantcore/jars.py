"""JVM dependencies resolved by Maven from the poms in `jvm/` (see `make jars`).

`jvm/kafka` is the broker's classpath; `jvm/spark` the connectors passed to Spark as
`spark.jars`, minus any jar the pyspark wheel already ships (two copies of one library
on a classpath is how version conflicts start).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from quantcore.errors import PlatformError

# Greedy artifact, then a version that starts with a digit (qualifiers allowed).
_VERSIONED = re.compile(r"^(?P<artifact>.+)-\d+(\.\d+)*([.-][A-Za-z0-9]+)*\.jar$")


def artifact_name(jar: Path | str) -> str:
    """`kafka-clients-3.9.2.jar` -> `kafka-clients` (the name without its version)."""
    name = Path(jar).name
    match = _VERSIONED.match(name)
    return match.group("artifact") if match else name.removesuffix(".jar")


def _jars_in(folder: Path, what: str) -> list[Path]:
    jars = sorted(folder.glob("*.jar"))
    if not jars:
        raise PlatformError(f"no {what} jars in {folder}", "run `make jars` (needs Maven and Java 17)")
    return jars


def kafka_classpath(jars_dir: Path) -> str:
    return ":".join(str(jar) for jar in _jars_in(jars_dir / "kafka", "Kafka broker"))


@lru_cache(maxsize=1)
def _pyspark_artifacts() -> frozenset[str]:
    import pyspark

    return frozenset(artifact_name(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar"))


def spark_jars(jars_dir: Path) -> list[str]:
    """Connector jars for `spark.jars`: ours plus what pyspark lacks."""
    shipped = _pyspark_artifacts()
    return [str(jar) for jar in _jars_in(jars_dir / "spark", "Spark connector") if artifact_name(jar) not in shipped]
