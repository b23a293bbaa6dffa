"""
The subcommands of the C{txregistry} command (L{txregistry.cli}), one
module each.
"""
