"""The data plane, client side: the gRPC market-data server (one Redis subscription,
fan-out hub), its client library and `quantcore watch`.

May import: the shared core (`quantcore`) and third-party packages. Never the control plane
(`quantcore_platform`), `streaming`, `bench` or Dagster.
"""
