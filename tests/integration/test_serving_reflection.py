"""Reflection describes every symbol the server serves, methods included (`serving.reflection`).

What `grpcurl describe <symbol>` needs, read with grpcio-reflection's own client
(`ProtoReflectionDescriptorDatabase` under a `DescriptorPool`) from a real server: each symbol of
each file the listed services are declared in (and the files they import) is looked up alone,
in a fresh database and pool, so each lookup is one `file_containing_symbol` request the server
answers, not something the client already holds. Stock grpcio-reflection answers NOT_FOUND for
every method (grpc/grpc#34743).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from quantcore.wire import market_data_pb2
from quantcore_platform.services.process import free_port
from serving.server import MarketDataServer
from serving.service import SERVICE_NAME

pytestmark = pytest.mark.slow


def served_files(channel: grpc.Channel) -> tuple[list[str], dict]:
    """The services reflection lists, and the file descriptors they are declared in plus
    everything those import (by file name), as a client learns them."""
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    services = database.get_services()
    files: dict = {}
    pending = [pool.FindServiceByName(name).file for name in services]
    while pending:
        file = pending.pop()
        if file.name not in files:
            files[file.name] = file
            pending.extend(file.dependencies)
    return services, files


def symbols(file) -> list[tuple[str, str]]:
    """(kind, full name) of every symbol `file` declares, nested ones included. An enum value
    has two names: protobuf's, in its enum's scope (`pkg.Msg.VALUE`), and the one grpcurl
    prints (`pkg.Msg.Kind.VALUE`, kind "enum value in its enum")."""
    found: list[tuple[str, str]] = []

    def enum(e) -> None:
        found.append(("enum", e.full_name))
        scope = e.full_name.rpartition(".")[0]
        for value in e.values:
            found.extend([("enum value", f"{scope}.{value.name}"),
                          ("enum value in its enum", f"{e.full_name}.{value.name}")])

    def message(m) -> None:
        found.append(("message", m.full_name))
        found.extend(("field", f.full_name) for f in m.fields)
        found.extend(("oneof", o.full_name) for o in m.oneofs)
        found.extend(("extension", x.full_name) for x in m.extensions)
        for e in m.enum_types:
            enum(e)
        for nested in m.nested_types:
            message(nested)

    for m in file.message_types_by_name.values():
        message(m)
    for e in file.enum_types_by_name.values():
        enum(e)
    found.extend(("extension", x.full_name) for x in file.extensions_by_name.values())
    for service in file.services_by_name.values():
        found.append(("service", service.full_name))
        found.extend(("method", m.full_name) for m in service.methods)
    return found


def file_of(found) -> str:
    """The file a looked-up descriptor is declared in (for an enum value the lookup is a file)."""
    if isinstance(found, FileDescriptorProto) or hasattr(found, "dependencies"):
        return found.name
    if hasattr(found, "file"):
        return found.file.name
    return (getattr(found, "containing_service", None) or found.containing_type).file.name  # method, oneof


def file_containing(channel: grpc.Channel, name: str) -> FileDescriptorProto:
    """The server's own answer for `name` (its first file is the one declaring it).
    grpcurl's `Enum.VALUE` names are asked this way: the Python client's database finds the
    file the server sends for them, then cannot find the name in it (its local index)."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=name)])))
    if reply.HasField("error_response"):
        assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], reply.error_response
        raise KeyError(name)
    return FileDescriptorProto.FromString(reply.file_descriptor_response.file_descriptor_proto[0])


def resolve(channel: grpc.Channel, kind: str, name: str):
    """`name` looked up as `grpcurl describe` would, by a client that knows nothing yet."""
    if kind == "enum value in its enum":
        return file_containing(channel, name)
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    find = {
        "message": pool.FindMessageTypeByName, "field": pool.FindFieldByName,
        "oneof": pool.FindOneofByName, "extension": pool.FindExtensionByName,
        "enum": pool.FindEnumTypeByName, "service": pool.FindServiceByName,
        "method": pool.FindMethodByName, "enum value": pool.FindFileContainingSymbol,
    }[kind]
    return find(name)


DESCRIBED = ("Subscribe", "SubscribeTradeFlow")  # methods whose description is checked in full


def check_every_symbol(address: str) -> tuple[list[str], dict, Counter, list[str], dict]:
    """Served services and files, the symbols looked up by kind, those not found, and how
    each method of DESCRIBED describes (absent: not found)."""
    with grpc.insecure_channel(address) as channel:
        services, files = served_files(channel)
        kinds: Counter = Counter()
        missing = []
        for file in files.values():
            for kind, name in symbols(file):
                kinds[kind] += 1
                try:
                    found = resolve(channel, kind, name)
                except KeyError:
                    missing.append(f"{kind} {name}")
                    continue
                assert kind.startswith("enum value") or found.full_name == name
                assert file_of(found) == file.name, f"{name} is in {file.name}, not {file_of(found)}"
        described = {}
        for name in DESCRIBED:
            try:
                method = resolve(channel, "method", f"{SERVICE_NAME}.{name}")
            except KeyError:
                continue
            described[name] = (method.containing_service.full_name, method.input_type.full_name,
                               method.output_type.full_name, method.server_streaming)
    return services, files, kinds, missing, described


def test_every_service_method_and_message_describes(redis_service):
    settings = redis_service.override(grpc_port=free_port())

    async def scenario():
        async with MarketDataServer.from_settings(settings) as server:
            return await asyncio.to_thread(check_every_symbol, server.address)

    services, files, kinds, missing, described = asyncio.run(scenario())
    assert {SERVICE_NAME, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= set(services)
    ours = {market_data_pb2.DESCRIPTOR.name, *(f.name for f in market_data_pb2.DESCRIPTOR.dependencies)}
    assert ours <= set(files), "the service's file and what it imports are served"
    assert missing == [], f"reflection cannot find {len(missing)} symbols: {missing}"
    assert described == {
        "Subscribe": (SERVICE_NAME, "quantcore.v1.SubscribeRequest", "quantcore.v1.MarketUpdate", True),
        "SubscribeTradeFlow": (SERVICE_NAME, "quantcore.v1.SubscribeTradeFlowRequest",
                               "quantcore.v1.TradeFlowUpdate", True),
    }
    # Every kind was looked up (today 5 files: 3 services, 9 methods, 33 messages, 6 enums, 19 values...)
    assert kinds["service"] >= 3 and kinds["method"] >= 9, kinds
    assert kinds["message"] >= 10 and kinds["enum"] >= 3 and kinds["enum value"] >= 6, kinds
    assert kinds["enum value in its enum"] == kinds["enum value"], kinds


def test_unknown_symbols_are_still_not_found(redis_service):
    """The workaround maps real methods and enum values only: anything else stays NOT_FOUND."""
    settings = redis_service.override(grpc_port=free_port())

    unknown = (("method", f"{SERVICE_NAME}.NoSuchMethod"), ("service", "quantcore.v1.NoSuchService"),
               ("message", "quantcore.v1.NoSuchMessage"), ("method", "NoSuchService.Subscribe"),
               ("method", "Subscribe"), ("enum value in its enum", "quantcore.v1.MarketUpdate.Kind.NO_SUCH_KIND"))

    def lookups(address: str) -> list[str]:
        not_found = []
        with grpc.insecure_channel(address) as channel:
            for kind, name in unknown:
                try:
                    resolve(channel, kind, name)
                except KeyError:
                    not_found.append(name)
        return not_found

    async def scenario():
        async with MarketDataServer.from_settings(settings) as server:
            return await asyncio.to_thread(lookups, server.address)

    assert asyncio.run(scenario()) == [name for _, name in unknown]
