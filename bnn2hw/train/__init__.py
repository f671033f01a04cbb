"""Training: BayesBiNN and STE optimizers, the loop, metrics and checkpoints."""

from bnn2hw.train.bayesbinn import BayesBiNN
from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bnn2hw.train.loop import TrainConfig, TrainingDiverged, resume_config, train
from bnn2hw.train.methods import METHODS, Method, ReadOut
from bnn2hw.train.ste import STEAdam

__all__ = [
    "BayesBiNN", "CheckpointError", "METHODS", "Method", "ReadOut", "STEAdam", "TrainConfig",
    "TrainingDiverged", "load_checkpoint", "resume_config", "save_checkpoint", "train",
]
