"""Where the network lives between commands: the state file, its format migrations, its history."""

from linctl.store.migrations import FORMAT

__all__ = ["FORMAT"]
