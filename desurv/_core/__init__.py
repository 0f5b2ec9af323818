"""The DeSurv solver on plain numpy arrays (genes x samples, the paper's orientation)."""
