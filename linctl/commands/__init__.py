"""The commands, grouped by theme; each body parses nothing itself (options.py does) and calls plain functions."""
