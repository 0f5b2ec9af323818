"""Checkpoints of a long single fit: ``DeSurv.fit(..., checkpoint=PATH)``.

One ``.npz`` file holds what a fit needs to go on exactly where it stopped:

- ``fingerprint``: a SHA-256 of everything that determines the fit (the data as the solver
  sees them, the survival data, the hyperparameters and the seeds); a checkpoint written by
  another fit is refused, naming the file.
- the result of the start selection (the ``n_init`` short runs), once it is done;
- the full state of the solver loop of the final run (W, H, beta, the incremental products
  W^T X and W^T W, the step sizes, extrapolation and gain state, the loss records, the
  iteration counter), every ``checkpoint_every`` iterations.

Writes go to a temporary file in the same folder, then ``os.replace``: a kill at any moment
leaves either the previous checkpoint or the new one, never a torn file. Resuming from it
gives the bitwise identical result of an uninterrupted fit (the loop state is complete).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("desurv")

__all__ = ["FitCheckpoint", "fingerprint"]

FORMAT = 1


def fingerprint(*parts: Any) -> str:
    """SHA-256 of arrays (their dtype, shape and bytes) and of the ``repr`` of other values."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


class FitCheckpoint:
    """The checkpoint file of one fit.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (created, with its folder, on the first save).
    every : int
        Iterations between two saves of the solver state.
    fingerprint : str
        :func:`fingerprint` of the fit; an existing file with another one is refused.
    """

    def __init__(self, path: str | os.PathLike, every: int, fingerprint: str) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npz":
            self.path = self.path.with_suffix(self.path.suffix + ".npz")
        self.every = int(every)
        self.fingerprint = str(fingerprint)
        self._data: dict[str, np.ndarray] = {}
        if self.path.exists():
            self._data = self._read()

    def _read(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # a torn or foreign file: say which, never guess
            raise ValueError(
                f"checkpoint {self.path} cannot be read ({type(exc).__name__}: {exc}); delete "
                "it to start the fit afresh"
            ) from None
        found = str(data.get("fingerprint", np.array("")))
        if found != self.fingerprint:
            raise ValueError(
                f"checkpoint {self.path} belongs to another fit (different data, "
                "hyperparameters or seed); delete it, or pass another checkpoint path"
            )
        if int(data.get("format", -1)) != FORMAT:
            raise ValueError(f"checkpoint {self.path} has an unknown format; delete it")
        logger.info("resuming from checkpoint %s", self.path)
        return data

    # -- what the fit reads back
    def get(self, prefix: str) -> dict[str, np.ndarray] | None:
        """The arrays saved under ``prefix`` (without it), or None."""
        keys = [k for k in self._data if k.startswith(prefix + "/")]
        if not keys:
            return None
        return {k[len(prefix) + 1 :]: self._data[k] for k in keys}

    # -- what the fit writes
    def save(self, prefix: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Replace what is saved under ``prefix`` by ``arrays`` and write the file atomically."""
        self._data = {k: v for k, v in self._data.items() if not k.startswith(prefix + "/")}
        for k, v in arrays.items():
            self._data[f"{prefix}/{k}"] = np.asarray(v)
        self._data["fingerprint"] = np.array(self.fingerprint)
        self._data["format"] = np.array(FORMAT)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **self._data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self) -> None:
        """Delete the file (after a finished fit, unless it should be kept)."""
        self.path.unlink(missing_ok=True)
