"""Interpretation: pure functions of a trained model returning labelled tables (clusters,
affinity, explanations, names, quality, the map). Sits above hmf_core.models and hmf_core.data;
never imports hmf_core.training or runs."""
