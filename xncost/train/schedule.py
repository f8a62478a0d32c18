"""The paper's learning-rate schedule (Section 4.3.1): Adam at 1e-3 with a cyclic LR,
mode triangular2, from 1e-3 to 1e-9, step size 6000 iterations.

As in the Keras/TF-addons CyclicalLearningRate the authors call, the rate starts at
1e-3 and moves linearly towards 1e-9 over one step (a half-cycle), returns, and the
amplitude halves every cycle (triangular2).

Step-size rule for short runs: step = min(6000, total iterations of the run), so a run
shorter than 6000 iterations sees exactly one full half-cycle (1e-3 down to 1e-9 at its
last iteration) and a longer run uses the paper's step unchanged.
"""

from __future__ import annotations

import torch

LR_START = 1e-3
LR_END = 1e-9
PAPER_STEP = 6000


def step_size(total_iterations: int, paper_step: int = PAPER_STEP) -> int:
    """min(paper_step, total_iterations), at least 1."""
    return max(1, min(paper_step, int(total_iterations)))


def make_optimizer(params, lr: float = LR_START) -> torch.optim.Adam:
    """Adam with the paper's starting rate."""
    return torch.optim.Adam(params, lr=lr)


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_iterations: int
) -> torch.optim.lr_scheduler.CyclicLR:
    """Cyclic LR, triangular2, 1e-3 -> 1e-9, step `step_size(total_iterations)`; step per batch."""
    return torch.optim.lr_scheduler.CyclicLR(
        optimizer,
        base_lr=LR_START,
        max_lr=LR_END,
        step_size_up=step_size(total_iterations),
        mode="triangular2",
        cycle_momentum=False,
    )
