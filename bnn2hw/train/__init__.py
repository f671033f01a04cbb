"""Training: BayesBiNN, STE, PBNet and LNS, the loop, metrics, checkpoints, continual learning."""

from bnn2hw.train.bayesbinn import BayesBiNN
from bnn2hw.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bnn2hw.train.config import TrainConfig
from bnn2hw.train.loop import TrainingDiverged, resume_config, train
from bnn2hw.train.method_base import Method, ReadOut
from bnn2hw.train.methods import METHODS
from bnn2hw.train.ste import STEAdam

# continual imports the loop: import it (and uncertainty) as bnn2hw.train.continual / .uncertainty.

__all__ = [
    "BayesBiNN", "CheckpointError", "METHODS", "Method", "ReadOut", "STEAdam", "TrainConfig",
    "TrainingDiverged", "load_checkpoint", "resume_config", "save_checkpoint", "train",
]
