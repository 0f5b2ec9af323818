"""The one result type of the statistics layer: a dict with attribute access.

:class:`desurv.tl._survival.SurvivalResult` and :class:`desurv.tl._consensus.ConsensusResult`
subclass it (their names are unchanged for users); they add only what is their own (the
survival result's h5ad-writable form).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Result"]


class Result(dict):
    """A dict whose keys are also readable as attributes (``res.cox`` is ``res["cox"]``).

    A missing key raises ``KeyError`` by item and ``AttributeError`` by attribute, so
    ``hasattr``, ``getattr(res, name, default)``, pickling and copying behave as for any
    object. Subclasses document their keys.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {str(k) for k in self})
