"""Server reflection that also describes methods (`grpcurl describe quantcore.v1.MarketData.Subscribe`).

grpcio-reflection answers a `file_containing_symbol` request with the descriptor pool's
`FindFileContainingSymbol`, and protobuf's pool (upb, the default backend) finds messages,
nested messages, fields, oneofs, enums, enum values and services there, but not methods. So on
every grpc Python server `grpcurl describe Service.Method` answers "Symbol not found" while
`describe Service` works: https://github.com/grpc/grpc/issues/34743 (open; seen here with
grpcio-reflection 1.81 and protobuf 6.33). Calls were never affected (grpcurl looks up the
service, then the method in it).

The workaround: a method's name is looked up as its service's (the file that declares a service
declares its methods). Likewise an enum value named inside its enum (`pkg.Msg.Kind.SNAPSHOT`, how
grpcurl prints it; protobuf's name is `pkg.Msg.SNAPSHOT`, which the pool already finds) is
looked up as the enum. Every other name goes through unchanged. Everything else is the stock
asyncio servicer, on the same pool (`descriptor_pool.Default()` unless one is given, the pool the
generated `*_pb2` modules register in). tests/integration/test_serving_reflection.py resolves
every symbol of every served file through a real server.
"""

from __future__ import annotations

from typing import Iterable

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

SERVICE_NAME = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection


class ReflectionServicer(reflection.aio.ReflectionServicer):
    """The stock asyncio reflection servicer, plus method (and `Enum.VALUE`) names (grpc/grpc#34743)."""

    def __init__(self, service_names: Iterable[str], pool: descriptor_pool.DescriptorPool | None = None) -> None:
        super().__init__(service_names, pool)
        self._descriptors = descriptor_pool.Default() if pool is None else pool

    def _file_containing_symbol(self, request, fully_qualified_name: str):
        # (the hook grpcio-reflection's servicers answer `file_containing_symbol` with)
        return super()._file_containing_symbol(request, self.declaring_symbol(fully_qualified_name))

    def declaring_symbol(self, name: str) -> str:
        """`name`, or the service of a method (`pkg.Service.Method`) or the enum of a value
        (`pkg.Enum.VALUE`): a name the pool can find, declared in the same file."""
        parent, _, member = name.rpartition(".")
        for find, members in ((self._descriptors.FindServiceByName, "methods_by_name"),
                              (self._descriptors.FindEnumTypeByName, "values_by_name")):
            try:
                if member in getattr(find(parent), members):
                    return parent
            except KeyError:
                pass
        return name


def enable_server_reflection(service_names: Iterable[str], server: grpc.aio.Server,
                             pool: descriptor_pool.DescriptorPool | None = None) -> None:
    """`grpc_reflection.v1alpha.reflection.enable_server_reflection` for an asyncio server,
    with the servicer above."""
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(ReflectionServicer(service_names, pool), server)
