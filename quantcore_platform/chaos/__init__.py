"""Chaos: kill -9 the platform's components one at a time and judge the recovery (`quantcore chaos`)."""
