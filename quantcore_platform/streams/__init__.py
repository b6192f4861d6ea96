"""The long-running streams (ingest, compute, serve) as supervised processes."""
