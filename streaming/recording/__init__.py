"""Record and replay of exchange sessions: `format` is the file, `recorder` captures a
session through the ingest's own edges (`quantcore record`); the simulator's
`ReplayServer` serves a file back through the same protocol (`quantcore simulator --replay`)."""
