"""`quantcore` commands of the serve part (filled in by its issue)."""
