"""Errors that reach an operator: one line saying what is wrong and how to fix it."""


class PlatformError(Exception):
    """An expected failure with a fix; the CLI prints it without a traceback."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}" + (f" -> {fix}" if fix else ""))
