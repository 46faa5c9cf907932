"""hl365 integration core: importable and testable without any Functions host."""
