"""The paper audit: every printed number checked, each mismatch given its proven cause.

Sections are computed as data by the sibling modules (`fchead`, `residual`, `ratios`,
`speedups`, `crosstable`, `text`) and rendered to markdown by `render`; docs/paper.md
explains the findings for readers.
"""

from xncost.paper.audit.inverse import (
    Inverse,
    printed_interval,
    solve_inverse,
    speedup_inverses,
    total_inverses,
)
from xncost.paper.audit.render import audit_markdown, write_audit

__all__ = [
    "Inverse",
    "audit_markdown",
    "printed_interval",
    "solve_inverse",
    "speedup_inverses",
    "total_inverses",
    "write_audit",
]
