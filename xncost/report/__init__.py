"""One report model (`model`) and one writer per format: markdown, CSV, exact JSON and the
terminal (rich). Every report of xncost goes through them (docs/architecture.md)."""
