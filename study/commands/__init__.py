"""Subcommands of `study`: each module has add_parser(subparsers) setting func=run."""
