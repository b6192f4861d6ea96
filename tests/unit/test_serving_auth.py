"""The bearer-token check (pure parts of the interceptor)."""

from __future__ import annotations

from serving.auth import OPEN_SERVICES, bearer_metadata, service_of, token_ok


def test_the_right_bearer_token_passes():
    assert token_ok(bearer_metadata("abc"), "abc")
    assert token_ok([("user-agent", "x"), ("Authorization", "bearer abc")], "abc"), "scheme and key are case-insensitive"
    assert token_ok([("authorization", b"Bearer abc")], "abc")


def test_missing_wrong_or_malformed_tokens_fail():
    assert not token_ok(None, "abc")
    assert not token_ok([], "abc")
    assert not token_ok(bearer_metadata("abd"), "abc")
    assert not token_ok([("authorization", "abc")], "abc"), "the Bearer scheme is required"
    assert not token_ok([("authorization", "Basic abc")], "abc")
    assert not token_ok([("x-token", "Bearer abc")], "abc")


def test_only_health_is_open():
    assert service_of("/quantcore.v1.MarketData/Subscribe") == "quantcore.v1.MarketData"
    assert service_of("/grpc.health.v1.Health/Check") in OPEN_SERVICES
    assert service_of("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") not in OPEN_SERVICES
