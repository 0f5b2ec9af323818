from desurv.tl._consensus import consensus_cluster
from desurv.tl._survival import survival

__all__ = ["consensus_cluster", "survival"]
