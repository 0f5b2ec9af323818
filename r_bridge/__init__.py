"""r_bridge: the one embedded R of a desurv process, through rpy2.

It runs the R side of the paper's validation: Bioconductor's ConsensusClusterPlus and R's
survival package (``coxph`` with strata, ``survdiff``, ``concordance``). Users normally reach
it through ``desurv.tl.consensus_cluster(..., implementation="r")`` and
``desurv.tl.survival(..., implementation="r")``.

Installing the R side
---------------------
- R from Debian packages (as root): ``apt-get install -y --no-install-recommends
  r-base-core r-base-dev r-cran-survival r-bioc-consensusclusterplus``.
- rpy2 from PyPI as the optional extra ``pip install 'desurv[r]'``, pinned to
  ``rpy2<3.6.7`` and ``rpy2-rinterface<3.6.6`` (newer rpy2 does not load with Debian's R 4.2).
- ``bash .ci/install_r.sh .venv/bin/python`` does both where it can (root or sudo).

Rules
-----
- Importing ``r_bridge`` (or ``desurv``) never imports rpy2 and never starts R; R starts on
  the first call that needs it (:func:`available` included).
- Conversions use ``localconverter`` only; rpy2's global ``activate()`` is never called.
- R warnings and messages are re-raised as Python warnings (:class:`RWarning`,
  :class:`RMessage`); R errors as :class:`RError` carrying R's message.
- R belongs to the main process: calling r_bridge from a worker process of a parallel run
  raises ``RuntimeError``.
- A missing piece raises :class:`RUnavailableError` (an ``ImportError``) naming exactly what
  to install.
"""

from __future__ import annotations

from r_bridge._ccp import consensus_cluster_plus, consensus_figures
from r_bridge._session import (
    RError,
    RMessage,
    RUnavailableError,
    RWarning,
    available,
    require,
    unavailable_reason,
)
from r_bridge._survival import concordance, coxph, fisher_test, survdiff

__all__ = [
    "RError",
    "RMessage",
    "RUnavailableError",
    "RWarning",
    "available",
    "concordance",
    "consensus_cluster_plus",
    "consensus_figures",
    "coxph",
    "fisher_test",
    "require",
    "survdiff",
    "unavailable_reason",
]
