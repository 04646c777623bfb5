"""The W&B sweeps quickstart, unchanged but for the import."""

import redsweep as wandb  # the only change

wandb.login()


def objective(config):
    return config.x**3 + config.y


def main():
    wandb.init(project="my-first-sweep")
    score = objective(wandb.config)
    wandb.log({"score": score})


sweep_configuration = {
    "method": "random",
    "metric": {"goal": "minimize", "name": "score"},
    "parameters": {"x": {"max": 0.1, "min": 0.01}, "y": {"values": [1, 3, 7]}},
}

sweep_id = wandb.sweep(sweep=sweep_configuration, project="my-first-sweep")
wandb.agent(sweep_id, function=main, count=10)
