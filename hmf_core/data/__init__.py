"""Data: rating and metadata files, splits, synthetic data, the datasets training reads. Sits
above hmf_core.common only."""
