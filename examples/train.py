"""A stand-in training script for examples/sweep.yaml: a synthetic learning curve per config.

Run by an agent (`redsweep agent SWEEP_ID` in this directory): redsweep.init() finds the run
from the environment, redsweep.config holds this trial's parameters.
"""

import math
import time

import redsweep

run = redsweep.init(project="examples")
config = redsweep.config

# a made-up loss surface: best near lr=3e-3, batch 64, adam with momentum ~0.9
floor = (
    abs(math.log10(config.learning_rate) - math.log10(3e-3)) * 0.3
    + abs(config.batch_size - 64) / 640
    + (0.0 if config.optimizer["name"] == "adam" else 0.1)
    + abs(config.optimizer["momentum"] - 0.9) * 0.2
)
for epoch in range(config.epochs):
    val_loss = floor + 2.0 * math.exp(-0.5 * (epoch + 1))
    redsweep.log({"epoch": epoch, "val_loss": val_loss})
    time.sleep(0.05)
