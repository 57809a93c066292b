"""One module per group of subcommands; each has ``register(subparsers)`` and sets ``func`` on its parsers.

A command function takes the parsed arguments and the settings, and returns the exit code.
"""
