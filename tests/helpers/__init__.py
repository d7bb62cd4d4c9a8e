"""Test helpers shared by several test files (measurements, tiny models); no tests here."""
