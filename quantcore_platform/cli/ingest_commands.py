"""`quantcore` commands of the ingest part (filled in by its issue)."""
