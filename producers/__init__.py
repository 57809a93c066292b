"""The ways in: the intake API for subprocessors, monitor adapters and on-call actions."""
