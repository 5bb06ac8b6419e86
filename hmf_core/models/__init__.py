"""Models: plain torch cluster models and how they start. Imports only torch, numpy, sklearn
and the layers below (hmf_core.data, hmf_core.common)."""
