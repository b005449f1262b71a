"""Helpers shared by test modules. Test modules import helpers only from here; fixtures live in conftest.py files."""
