"""`quantcore` commands of the compute part (filled in by its issue)."""
