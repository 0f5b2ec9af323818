"""DeSurv.fit(..., checkpoint=PATH): a long fit interrupted (even by SIGKILL) resumes from its
last save to the bitwise identical model of an uninterrupted fit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import desurv._core.checkpoint as C
from desurv import DeSurv
from desurv.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    d = simulate("primary", n_genes=800, n_background=200, n_markers=80, n_samples=120,
                 random_state=0)  # fmt: skip
    return d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()


def _same(m1: DeSurv, m2: DeSurv) -> None:
    np.testing.assert_array_equal(m1.W_, m2.W_)
    np.testing.assert_array_equal(m1.H_, m2.H_)
    np.testing.assert_array_equal(m1.coef_, m2.coef_)
    assert m1.n_iter_ == m2.n_iter_ and m1.converged_ == m2.converged_
    for col in m1.loss_history_:
        np.testing.assert_array_equal(m1.loss_history_[col], m2.loss_history_[col])


@pytest.mark.parametrize(
    "n_init, random_state, solver, extra",
    [
        (1, 0, "mu", {}),
        (3, 0, "mu", {}),
        (3, None, "hals", {}),
        # the warm-up ended early by warmup_tol before the interruption at iteration 60 (and
        # would run to 150 otherwise): the resumed fit must know it has ended
        (1, 0, "hals", {"warmup_iter": 150, "warmup_tol": 1e-3}),
    ],
)
def test_interrupted_fit_resumes_bitwise(data, tmp_path, monkeypatch, n_init, random_state,
                                         solver, extra):  # fmt: skip
    X, t, e = data
    kw = dict(n_init=n_init, max_iter=200, tol=0.0, random_state=random_state, solver=solver,
              **extra)  # fmt: skip
    path = tmp_path / "fit.npz"
    orig = C.FitCheckpoint.save
    saves = {"final": 0}

    def interrupting_save(self, prefix, arrays):
        orig(self, prefix, arrays)
        if prefix == "final":
            saves["final"] += 1
            if saves["final"] == 3:
                raise KeyboardInterrupt  # as a user's Ctrl-C right after the 3rd save

    monkeypatch.setattr(C.FitCheckpoint, "save", interrupting_save)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            DeSurv(3, **kw).fit(X, t, e, checkpoint=path, checkpoint_every=20)
        monkeypatch.setattr(C.FitCheckpoint, "save", orig)
        with np.load(path) as z:
            assert int(z["final/it"]) == 60
            entropy = int(str(z["seed/entropy"])) if random_state is None else None
        resumed = DeSurv(3, **kw).fit(X, t, e, checkpoint=path, checkpoint_every=20)
        seed = np.random.SeedSequence(entropy) if random_state is None else random_state
        plain = DeSurv(3, **{**kw, "random_state": seed}).fit(X, t, e)
    _same(resumed, plain)
    if extra:  # the Cox part moved before iteration 60, so the warm-up did end early there
        cox = plain.loss_history_["cox"].to_numpy()
        assert np.flatnonzero(cox != cox[0])[0] < 60
    assert not path.exists()  # removed once the fit is done


_CHILD = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    from desurv import DeSurv
    from desurv.simulate import simulate
    warnings.simplefilter("ignore")
    d = simulate("primary", n_genes=800, n_background=200, n_markers=80, n_samples=120,
                 random_state=0)
    X, t, e = d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()
    ckpt, out = sys.argv[1], sys.argv[2]
    m = DeSurv(3, n_init=2, max_iter=3000, tol=0.0, random_state=7)
    m.fit(X, t, e, checkpoint=None if ckpt == "-" else ckpt, checkpoint_every=10)
    np.savez(out, W=m.W_, H=m.H_, coef=m.coef_, loss=m.loss_history_["loss"].to_numpy())
    """
)


def _child(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", _CHILD, *args], env=env, cwd=ROOT, **kw)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
    ckpt = tmp_path / "long.npz"
    # 1. killed with SIGKILL after it has saved at least twice
    victim = _child([str(ckpt), str(tmp_path / "never.npz")])
    deadline = time.time() + 120
    it = 0
    while time.time() < deadline and victim.poll() is None:
        if ckpt.exists():
            try:
                with np.load(ckpt) as z:
                    it = int(z["final/it"]) if "final/it" in z.files else 0
            except Exception:  # noqa: BLE001 - never torn (os.replace), but be safe
                it = 0
            if it >= 20:
                break
        time.sleep(0.02)
    assert victim.poll() is None, "the fit ended before it could be killed; make it longer"
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert victim.returncode == -signal.SIGKILL
    with np.load(ckpt) as z:  # the file is whole: the last complete save
        saved_it = int(z["final/it"])
    assert 20 <= saved_it < 3000
    # 2. the resumed run and 3. an uninterrupted run give the same model, bit for bit
    resumed = _child([str(ckpt), str(tmp_path / "resumed.npz")])
    plain = _child(["-", str(tmp_path / "plain.npz")])
    assert resumed.wait(300) == 0 and plain.wait(300) == 0
    a, b = np.load(tmp_path / "resumed.npz"), np.load(tmp_path / "plain.npz")
    for key in ("W", "H", "coef", "loss"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not ckpt.exists()


def test_checkpoint_refusals(data, tmp_path):
    X, t, e = data
    path = tmp_path / "c.npz"
    C.FitCheckpoint(path, 5, "someone-else").save("seed", {"entropy": np.array("1")})
    with pytest.raises(ValueError, match="belongs to another fit"):
        DeSurv(2, n_init=1, max_iter=10, random_state=0).fit(X, t, e, checkpoint=path)
    path.write_bytes(b"not an npz file")
    with pytest.raises(ValueError, match="cannot be read"):
        DeSurv(2, n_init=1, max_iter=10, random_state=0).fit(X, t, e, checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 1"):
        DeSurv(2, max_iter=10).fit(X, t, e, checkpoint=tmp_path / "d.npz", checkpoint_every=0)
    with pytest.raises(ValueError, match="variant='default' only"):
        DeSurv(2, max_iter=10, variant="r-desurv").fit(X, t, e, checkpoint=tmp_path / "e.npz")
    # a checkpoint of one fit is not picked up by another (other data)
    p2 = tmp_path / "f.npz"
    orig = C.FitCheckpoint.save

    def stop(self, prefix, arrays):
        orig(self, prefix, arrays)
        if prefix == "final":
            raise KeyboardInterrupt

    C.FitCheckpoint.save = stop
    try:
        with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
            warnings.simplefilter("ignore")
            DeSurv(2, n_init=1, max_iter=50, tol=0, random_state=0).fit(
                X, t, e, checkpoint=p2, checkpoint_every=5
            )
    finally:
        C.FitCheckpoint.save = orig
    with pytest.raises(ValueError, match="belongs to another fit"):
        DeSurv(2, n_init=1, max_iter=50, tol=0, random_state=0).fit(
            X * 2, t, e, checkpoint=p2, checkpoint_every=5
        )
