"""Training: settings, the Lightning wrapper, optimizers, memory plans, evaluation metrics.
Sits above hmf_core.models and hmf_core.data; never imports hmf_core.interpret or runs."""
