"""The `quantcore` command: one module of commands per part of the system, each a thin
shell over library functions that Dagster and the tests call too."""
