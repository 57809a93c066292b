"""The ``breachwire`` command: parses arguments, builds settings, calls into the packages. Nothing imports it."""
