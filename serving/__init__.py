"""The gRPC market-data server (one Redis subscription, fan-out hub), its client and `quantcore watch`."""
