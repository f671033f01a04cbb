"""bnn2hw: binary neural networks from Bayesian training to FPGA dataflow hardware.

Stages, in the direction data flows: data -> models/train -> compile -> hw -> sim -> deploy.
"""

__version__ = "0.1.0"
