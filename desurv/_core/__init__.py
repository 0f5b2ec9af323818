"""The DeSurv solver on plain numpy arrays (genes x samples, the paper's orientation).

Nothing here knows about pandas, AnnData or R. The public estimator lives in
``desurv.estimator``; the AnnData layer in ``desurv.tl``.
"""
