"""Validation training of the heads (paper Section 4): data sets, losses, LR schedule,
the training loop and the results files. Imports torch; not imported by the CLI at startup.
"""
