"""`tritontts` subcommands, one module each, imported lazily by `tritontts.cli`."""
