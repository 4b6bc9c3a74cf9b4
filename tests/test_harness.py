"""The test helpers themselves: the in-process run is the console script's, and no test sees the user's variables."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import run, run_entry, run_script

# cheap command lines (no torch): the console script's answer to each, its exit code and both streams
ENTRY_LINES = [[], ["--version"], ["forward", "--bogus"], ["bogus-command"]]  # tests/test_views.py has more


@pytest.mark.parametrize("argv", ENTRY_LINES, ids=lambda a: " ".join(a) or "(none)")
def test_run_entry_answers_as_the_installed_script(argv, tmp_path):
    env = {"LINCTL_STATE": str(tmp_path / "net.pt")}
    here = run_entry(*argv, env=env)
    there = run_script(*argv, env=env)
    assert (here.exit_code, here.stdout, here.stderr) == (there.exit_code, there.stdout, there.stderr)
    assert here.stdout or here.stderr


def test_run_entry_puts_sys_argv_back():
    before = list(sys.argv)
    assert run_entry("--version").exit_code == 0
    assert sys.argv == before


def test_a_variable_set_by_a_test_does_not_outlive_it(tmp_path):
    """A test that sets LINCTL_STATE by hand (not through monkeypatch): the next test must not see it."""
    os.environ["LINCTL_STATE"] = str(tmp_path / "net.pt")
    assert run("inspect", "2", "1", "--seed", "0").exit_code == 0
    assert (tmp_path / "net.pt").exists()


def test_no_linctl_variable_reaches_a_test():
    """The user's own LINCTL_* variables (and the previous test's) are not in this test's environment."""
    assert [key for key in os.environ if key.startswith("LINCTL_")] == []
