"""ConsensusClusterPlus (Bioconductor) through the embedded R.

The wrapper takes samples x features (AnnData orientation) and transposes for R, where
ConsensusClusterPlus wants features x samples. It never leaves plot files behind: the
package draws its heatmaps and CDF plots on whatever device is current (with ``plot=NULL``
that is ``Rplots.pdf`` in the working directory), so every run draws on a null ``pdf(NULL)``
device that is closed afterwards.

The failure of ConsensusClusterPlus 1.62 (Debian bookworm) with ``clusterAlg="km"`` and
``pFeature < 1`` (``if (is.na(sample_x$submat))`` on a matrix: "the condition has length > 1"
since R 4.2) is fixed at run time: a copy of its internal ``ccRun`` with that single test
replaced by ``length(sample_x$submat) == 1L && is.na(sample_x$submat)`` (what the test
meant) is bound in a private environment in front of the package namespace. The test draws
no random numbers, so the random stream, and hence every result, is unchanged; the package
itself is not modified. Versions where the pattern is absent run unpatched.

The package computes the consensus CDF and the delta-area only to plot them; this wrapper
recomputes them in R with the same code (100-bin ``hist`` of the lower triangle of each
consensus matrix, area by the package's own sum) and adds the PAC (proportion of
ambiguous clustering, the share of consensus values in ``(u1, u2]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from r_bridge import _session

_R_CODE = r"""
ccp_cache <- new.env()

ccp_function <- function(patch = TRUE) {
  key <- if (patch) "patched" else "original"
  if (!is.null(ccp_cache[[key]])) return(ccp_cache[[key]])
  ns <- asNamespace("ConsensusClusterPlus")
  main <- get("ConsensusClusterPlus", envir = ns)
  applied <- FALSE
  if (patch) {
    run <- get("ccRun", envir = ns)
    txt <- deparse(body(run), width.cutoff = 500L)
    pat <- "is.na(sample_x$submat)"
    hits <- grepl(pat, txt, fixed = TRUE)
    if (sum(hits) == 1L) {
      txt <- sub(pat, "(length(sample_x$submat) == 1L && is.na(sample_x$submat))", txt,
                 fixed = TRUE)
      body(run) <- parse(text = txt, keep.source = FALSE)[[1L]]
      environment(run) <- ns
      shim <- new.env(parent = ns)
      assign("ccRun", run, envir = shim)
      environment(main) <- shim
      applied <- TRUE
    }
  }
  out <- list(fn = main, patched = applied)
  ccp_cache[[key]] <- out
  out
}

ccp_figures <- function(mats, breaks = 100L, u1 = 0.1, u2 = 0.9) {
  # The code of ConsensusClusterPlus:::CDF (which only plots), plus the PAC.
  tri <- get("triangle", envir = asNamespace("ConsensusClusterPlus"))
  cdf <- matrix(NA_real_, nrow = length(mats), ncol = breaks)
  areaK <- numeric(length(mats))
  pac <- numeric(length(mats))
  for (i in seq_along(mats)) {
    v <- tri(mats[[i]], mode = 1)
    h <- hist(v, plot = FALSE, breaks = seq(0, 1, by = 1/breaks))
    h$counts <- cumsum(h$counts)/sum(h$counts)
    thisArea <- 0
    for (bi in 1:(length(h$breaks) - 1)) {
      thisArea <- thisArea + h$counts[bi] * (h$breaks[bi + 1] - h$breaks[bi])
    }
    cdf[i, ] <- h$counts
    areaK[i] <- thisArea
    pac[i] <- mean(v > u1 & v <= u2)
  }
  deltaK <- areaK[1]
  if (length(areaK) > 1L) {
    for (i in 2:length(areaK)) deltaK <- c(deltaK, (areaK[i] - areaK[i - 1])/areaK[i - 1])
  }
  list(cdf = cdf, area = areaK, delta = deltaK, pac = pac, breaks = seq(0, 1, by = 1/breaks))
}

ccp_run <- function(d, maxK, reps, pItem, pFeature, clusterAlg, distance, innerLinkage,
                    finalLinkage, weightsItem, weightsFeature, seed, corUse, patch,
                    breaks, u1, u2) {
  f <- ccp_function(patch)
  genv <- globalenv()
  had_seed <- exists(".Random.seed", envir = genv, inherits = FALSE)
  if (had_seed) old_seed <- get(".Random.seed", envir = genv, inherits = FALSE)
  on.exit({
    if (had_seed) assign(".Random.seed", old_seed, envir = genv)
    else if (exists(".Random.seed", envir = genv, inherits = FALSE))
      rm(".Random.seed", envir = genv)
  }, add = TRUE)
  grDevices::pdf(file = NULL)
  our_dev <- grDevices::dev.cur()
  on.exit(if (our_dev %in% grDevices::dev.list()) grDevices::dev.off(our_dev), add = TRUE)
  res <- f$fn(d = d, maxK = maxK, reps = reps, pItem = pItem, pFeature = pFeature,
              clusterAlg = clusterAlg, distance = distance, innerLinkage = innerLinkage,
              finalLinkage = finalLinkage, weightsItem = weightsItem,
              weightsFeature = weightsFeature, seed = seed, plot = NULL,
              writeTable = FALSE, verbose = FALSE, corUse = corUse)
  ks <- 2:maxK
  classes <- matrix(0L, nrow = ncol(d), ncol = length(ks))
  mats <- vector("list", length(ks))
  for (j in seq_along(ks)) {
    classes[, j] <- as.integer(res[[ks[j]]]$consensusClass)
    m <- res[[ks[j]]]$consensusMatrix
    dimnames(m) <- NULL
    mats[[j]] <- m
  }
  fig <- ccp_figures(mats, breaks, u1, u2)
  list(classes = classes, consensus = mats, cdf = fig$cdf, area = fig$area,
       delta = fig$delta, pac = fig$pac, breaks = fig$breaks, patched = f$patched,
       version = as.character(utils::packageVersion("ConsensusClusterPlus")))
}

ccp_figures_only <- function(mats, breaks, u1, u2) ccp_figures(mats, breaks, u1, u2)
"""

_QUIET = ("clustered", "end fraction")
_PACKAGES = ("ConsensusClusterPlus",)


def _ensure_defined() -> None:
    _session.require(_PACKAGES)
    if not _session.is_defined("ccp_run"):
        _session.define(_R_CODE)


@_session.locked
def consensus_cluster_plus(
    X,
    *,
    maxK: int = 3,
    reps: int = 10,
    pItem: float = 0.8,
    pFeature: float = 1.0,
    clusterAlg: str = "hc",
    distance: str = "pearson",
    innerLinkage: str = "average",
    finalLinkage: str = "average",
    weightsItem: Sequence[float] | np.ndarray | None = None,
    weightsFeature: Sequence[float] | np.ndarray | None = None,
    seed: int | None = None,
    corUse: str = "everything",
    sample_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    pac_window: tuple[float, float] = (0.1, 0.9),
    patch: bool = True,
) -> dict:
    """Run ``ConsensusClusterPlus::ConsensusClusterPlus`` on samples x features data.

    Parameters
    ----------
    X
        Samples x features (array or DataFrame; a DataFrame's index names the samples and
        its columns the features). Transposed to features x samples for R.
    maxK, reps, pItem, pFeature, clusterAlg, distance, innerLinkage, finalLinkage,
    weightsItem, weightsFeature, corUse
        As in ConsensusClusterPlus (``clusterAlg`` one of ``"hc"``, ``"km"``, ``"pam"``).
        ``weightsItem`` are *sampling probabilities* for R's ``sample(prob=)``: a subject
        with a tiny weight is rarely drawn, and its consensus row stays 0 when it never is.
    seed
        R's ``set.seed`` value. ``None`` draws one from numpy and reports it (R's own
        default would be the clock). The caller's R random state is restored afterwards.
    pac_window
        ``(u1, u2)`` of the PAC.
    patch
        Apply the run-time fix of the km / ``pFeature < 1`` failure (see module doc).

    Returns
    -------
    dict with
        ``classes`` (DataFrame samples x k, int labels as R's ``cutree``),
        ``consensus`` ({k: DataFrame samples x samples}),
        ``cdf`` (DataFrame: rows are the upper bin edges 0.01..1, columns k),
        ``area``, ``delta_area``, ``pac`` (Series indexed by k),
        ``seed``, ``patched`` (whether the run-time fix was applied), ``version``.
    """
    if isinstance(X, pd.DataFrame):
        if sample_names is None:
            sample_names = [str(i) for i in X.index]
        if feature_names is None:
            feature_names = [str(c) for c in X.columns]
        arr = X.to_numpy(dtype=float)
    else:
        arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D samples x features, got shape {arr.shape}")
    n, p = arr.shape
    if maxK < 2:
        raise ValueError(f"maxK must be >= 2, got {maxK}")
    if clusterAlg not in ("hc", "km", "pam"):
        raise ValueError(f"clusterAlg must be 'hc', 'km' or 'pam', got {clusterAlg!r}")
    if sample_names is None:
        sample_names = [f"s{i + 1}" for i in range(n)]
    if feature_names is None:
        feature_names = [f"f{j + 1}" for j in range(p)]
    sample_names = [str(x) for x in sample_names]
    if len(sample_names) != n or len(feature_names) != p:
        raise ValueError("sample_names / feature_names do not match the shape of X")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))

    def _weights(w, size, what):
        if w is None:
            return None
        w = np.asarray(w, dtype=float)
        if w.shape != (size,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{what} must be {size} finite nonnegative numbers")
        return w

    wi = _weights(weightsItem, n, "weightsItem")
    wf = _weights(weightsFeature, p, "weightsFeature")

    _ensure_defined()
    ro, _ = _session._session()
    d = _session.to_r(np.ascontiguousarray(arr.T))
    d = ro.r("function(m, r, c) { dimnames(m) <- list(r, c); m }")(
        d, ro.StrVector([str(f) for f in feature_names]), ro.StrVector(sample_names)
    )
    out = _session.call(
        "ccp_run",
        d=d,
        maxK=int(maxK),
        reps=int(reps),
        pItem=float(pItem),
        pFeature=float(pFeature),
        clusterAlg=str(clusterAlg),
        distance=str(distance),
        innerLinkage=str(innerLinkage),
        finalLinkage=str(finalLinkage),
        weightsItem=wi,
        weightsFeature=wf,
        seed=float(seed),
        corUse=str(corUse),
        patch=bool(patch),
        breaks=100,
        u1=float(pac_window[0]),
        u2=float(pac_window[1]),
        packages=_PACKAGES,
        quiet_messages=_QUIET,
    )
    ks = list(range(2, int(maxK) + 1))
    idx = pd.Index(sample_names, name="sample")
    classes = pd.DataFrame(_session.to_numpy(out.rx2("classes"), dtype=int), index=idx, columns=ks)
    classes.columns.name = "k"
    mats = out.rx2("consensus")
    consensus = {
        k: pd.DataFrame(_session.to_numpy(mats[j], dtype=float), index=idx, columns=idx)
        for j, k in enumerate(ks)
    }
    breaks = _session.to_numpy(out.rx2("breaks"), dtype=float)
    cdf = pd.DataFrame(
        _session.to_numpy(out.rx2("cdf"), dtype=float).reshape(len(ks), -1).T,
        index=pd.Index(breaks[1:], name="consensus_index"),
        columns=pd.Index(ks, name="k"),
    )
    kidx = pd.Index(ks, name="k")
    return {
        "classes": classes,
        "consensus": consensus,
        "cdf": cdf,
        "area": pd.Series(_session.to_numpy(out.rx2("area"), dtype=float), index=kidx, name="area"),
        "delta_area": pd.Series(
            _session.to_numpy(out.rx2("delta"), dtype=float), index=kidx, name="delta_area"
        ),
        "pac": pd.Series(_session.to_numpy(out.rx2("pac"), dtype=float), index=kidx, name="pac"),
        "seed": int(seed),
        "patched": bool(out.rx2("patched")[0]),
        "version": str(out.rx2("version")[0]),
    }


@_session.locked
def consensus_figures(consensus: dict, pac_window: tuple[float, float] = (0.1, 0.9)) -> dict:
    """R's CDF / area / delta-area / PAC of given consensus matrices ({k: matrix}).

    Used to check that the Python twin computes these figures exactly as R does.
    """
    _ensure_defined()
    ro, _ = _session._session()
    ks = sorted(consensus)
    mats = ro.r["list"](*[_session.to_r(np.asarray(consensus[k], dtype=float)) for k in ks])
    out = _session.call(
        "ccp_figures_only",
        mats,
        100,
        float(pac_window[0]),
        float(pac_window[1]),
        packages=_PACKAGES,
    )
    kidx = pd.Index(ks, name="k")
    breaks = _session.to_numpy(out.rx2("breaks"), dtype=float)
    return {
        "cdf": pd.DataFrame(
            _session.to_numpy(out.rx2("cdf"), dtype=float).reshape(len(ks), -1).T,
            index=pd.Index(breaks[1:], name="consensus_index"),
            columns=pd.Index(ks, name="k"),
        ),
        "area": pd.Series(_session.to_numpy(out.rx2("area"), dtype=float), index=kidx, name="area"),
        "delta_area": pd.Series(
            _session.to_numpy(out.rx2("delta"), dtype=float), index=kidx, name="delta_area"
        ),
        "pac": pd.Series(_session.to_numpy(out.rx2("pac"), dtype=float), index=kidx, name="pac"),
    }
