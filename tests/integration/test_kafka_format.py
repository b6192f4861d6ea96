"""Storage formatting copes with any cluster id, including one that starts with '-'."""

import pytest

from quantcore_platform.services import kafka_broker
from quantcore_platform.services.kafka_broker import KafkaBroker, java_binary
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


def test_a_cluster_id_starting_with_a_dash_formats(tmp_path, monkeypatch):
    monkeypatch.setattr(kafka_broker, "new_cluster_id", lambda: "-Hh4eHh4eHh4eHh4eHh4eA")
    broker = KafkaBroker.from_settings(make_settings(tmp_path / "home"))
    broker._format_once(java_binary(), broker._write_config())
    assert "cluster.id=-Hh4eHh4eHh4eHh4eHh4eA" in (broker.data_dir / "meta.properties").read_text()
