"""A Gaussian process regressor on numpy and scipy: Matern 5/2 kernel with one length scale per
dimension, an amplitude and a noise level (what :mod:`redsweep.shared.engine.bayes` searches with).

Inputs live in the unit cube and targets are normalised (mean 0, std 1). :func:`fit` maximises
the log marginal likelihood, with analytic gradients and a weak log-normal prior on the length
scales, by L-BFGS-B from the best of a few seeded starting points; :class:`GP` conditions on
data with those hyperparameters fixed and grows by rank-one Cholesky extensions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import lapack

STARTS = 5  # hyperparameter starting points screened for the one local optimisation
MAXITER = 12  # L-BFGS-B iterations: the fit need not be exact, and each step is O(n^3)
WARM_MAXITER = 6  # from the last fit's optimum (a warm start): a few steps follow the data

_NUGGET = 1e-8
_SQRT5 = math.sqrt(5.0)
_LS_BOUNDS = (math.log(0.01), math.log(20.0))
_AMP_BOUNDS = (math.log(0.05), math.log(20.0))
_NOISE_BOUNDS = (math.log(1e-6), math.log(0.5))
_LS_PRIOR = (math.log(0.5), 1.5)  # mean and sd of log length scale: keeps tiny fits sane


class GP:
    """A GP conditioned on (X, y) with fixed hyperparameters ``theta`` (log length scales,
    log amplitude, log noise); :meth:`add` appends a point by a rank-one Cholesky extension."""

    def __init__(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> None:
        d = X.shape[1]
        self.ls = np.exp(theta[:d])
        self.amp = float(np.exp(theta[d]))
        self.diag = float(np.exp(theta[d + 1])) + _NUGGET
        self._set_points(X, y)
        K = self.kernel(X)
        K.flat[:: len(K) + 1] += self.diag
        self.L = _cholesky(K)
        self.alpha = linalg.cho_solve((self.L, True), y, check_finite=False)

    def _set_points(self, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X, y
        self._inverse: np.ndarray | None = None  # K^-1, made by predict_grad when first asked
        self._scaled = X / self.ls
        self._norms = (self._scaled * self._scaled).sum(1)

    def kernel(self, A: np.ndarray) -> np.ndarray:
        """The Matern 5/2 covariances between the GP's points (rows) and ``A`` (columns).

        Computed in two buffers, in place: fresh large temporaries cost more than the maths.
        The result is Fortran-ordered, so the triangular solve in :meth:`predict` reuses it.
        """
        b = A / self.ls
        t = (b @ self._scaled.T).T  # |x - a|^2 = |x|^2 + |a|^2 - 2 x.a
        t *= -2.0
        t += self._norms[:, None]
        t += (b * b).sum(1)[None, :]
        np.maximum(t, 0.0, out=t)
        np.sqrt(t, out=t)
        t *= _SQRT5  # t = sqrt(5) r: the kernel is amp (1 + t + t^2/3) e^-t
        k = np.multiply(t, 1.0 / 3.0)
        k += 1.0
        k *= t
        k += 1.0
        np.negative(t, out=t)
        np.exp(t, out=t)
        k *= t
        k *= self.amp
        return k

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the latent function at ``Xs``."""
        Ks = self.kernel(Xs)
        mean = self.alpha @ Ks
        v = linalg.solve_triangular(self.L, Ks, lower=True, check_finite=False, overwrite_b=True)
        var = self.amp - np.einsum("ij,ij->j", v, v)
        return mean, np.sqrt(np.maximum(var, 1e-12))

    def predict_grads(
        self, Xs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean and standard deviation at a few points ``Xs`` and their gradients (rows).

        With ``u = x - x_i`` scaled by the length scales and ``t = sqrt(5) |u|``, Matern 5/2
        gives ``dk/dx = -amp 5/3 (1 + t) e^-t u / ls`` (the ``r`` of the chain rule cancels);
        ``var = amp - k' K^-1 k``, so ``dvar/dx = -2 (K^-1 k)' dk/dx``."""
        if self._inverse is None:  # K^-1 once per model: a point's cost is then two products
            self._inverse = linalg.cho_solve((self.L, True), np.eye(len(self.L)))
        b = Xs / self.ls
        t = (b @ self._scaled.T) * -2.0  # |b - s_i|^2 = |b|^2 + |s_i|^2 - 2 b.s_i, (points, n)
        t += self._norms[None, :]
        t += (b * b).sum(1)[:, None]
        np.maximum(t, 0.0, out=t)
        np.sqrt(t, out=t)
        t *= _SQRT5
        e = np.exp(-t)
        k = self.amp * (1.0 + t + t * t / 3.0) * e
        c = (-self.amp * 5.0 / 3.0) * (1.0 + t) * e  # dk/dx = c (b - s_i) / ls
        mean = k @ self.alpha
        beta = k @ self._inverse
        var = self.amp - (k * beta).sum(1)
        std = np.sqrt(np.maximum(var, 1e-12))
        # sum_i w_i (b - s_i) / ls = (b sum_i w_i - w @ S) / ls, for w = c alpha and c beta
        wa, wb = c * self.alpha, c * beta
        dmean = (b * wa.sum(1)[:, None] - wa @ self._scaled) / self.ls
        dstd = (b * wb.sum(1)[:, None] - wb @ self._scaled) / self.ls * (-1.0 / std)[:, None]
        dstd[var <= 1e-12] = 0.0
        return mean, std, dmean, dstd

    def mean(self, x: np.ndarray) -> float:
        return float(self.alpha @ self.kernel(x[None, :])[:, 0])

    def add(self, x: np.ndarray, y: float) -> None:
        k = self.kernel(x[None, :])[:, 0]
        row = linalg.solve_triangular(self.L, k, lower=True, check_finite=False)
        corner = math.sqrt(max(self.amp + self.diag - float(row @ row), 1e-10))
        m = len(self.y)
        L = np.zeros((m + 1, m + 1))
        L[:m, :m] = self.L
        L[m, :m] = row
        L[m, m] = corner
        self.L = L
        self._set_points(np.vstack([self.X, x]), np.append(self.y, y))
        self.alpha = linalg.cho_solve((self.L, True), self.y, check_finite=False)


def _cholesky(K: np.ndarray) -> np.ndarray:
    jitter = 0.0
    for _ in range(6):
        try:
            return linalg.cholesky(K + jitter * np.eye(len(K)), lower=True, check_finite=False)
        except linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0.0 else jitter * 100
    raise linalg.LinAlgError("the GP's kernel matrix is not positive definite")


def neg_log_likelihood(
    theta: np.ndarray, y: np.ndarray, d2: np.ndarray
) -> tuple[float, np.ndarray]:
    """The negative log marginal likelihood (plus the length-scale prior) and its gradient.

    ``d2[k]`` holds the squared differences of the points along dimension ``k``, flattened.
    """
    return _nll(theta, y, d2, gradient=True)  # type: ignore[return-value]


def _nll(
    theta: np.ndarray, y: np.ndarray, d2: np.ndarray, *, gradient: bool
) -> float | tuple[float, np.ndarray]:
    """:func:`neg_log_likelihood`, or its value alone (``gradient=False``: a third of the work,
    for screening starting points). Small matrices: the cost is the number of numpy calls, so
    the arithmetic is done in place where it can be."""
    d, n = d2.shape[0], len(y)
    ls2 = np.exp(2.0 * theta[:d])
    amp, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    t = (1.0 / ls2) @ d2
    np.sqrt(t, out=t)
    t *= _SQRT5  # sqrt(5) r: Matern 5/2 is (1 + t + t^2/3) e^-t
    e = np.exp(-t)
    kf = t * (1.0 / 3.0)
    kf += 1.0
    kf *= t
    kf += 1.0
    kf *= e
    kf *= amp
    K = kf.reshape(n, n).copy()
    K.flat[:: n + 1] += noise + _NUGGET
    L, info = lapack.dpotrf(K, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        return (1e25, np.zeros_like(theta)) if gradient else 1e25
    alpha, _ = lapack.dpotrs(L, y, lower=1)
    prior_mu, prior_sd = _LS_PRIOR
    z = (theta[:d] - prior_mu) / prior_sd
    value = (
        0.5 * float(y @ alpha)
        + float(np.log(L.diagonal()).sum())
        + 0.5 * n * math.log(2 * math.pi)
        + 0.5 * float(z @ z)
    )
    if not gradient:
        return value
    inverse, info = lapack.dpotri(L, lower=1, overwrite_c=1)  # the lower triangle only
    if info != 0:
        return 1e25, np.zeros_like(theta)
    # dNLL/dθ = tr(W dK/dθ) / 2 with W = K^-1 - αα'; every dK/dθ is symmetric, so the lower
    # triangle of K^-1, doubled off the diagonal, gives the same traces
    inverse *= 2.0
    inverse.flat[:: n + 1] *= 0.5
    W = inverse.ravel()
    W -= np.outer(alpha, alpha).ravel()
    grad = np.empty_like(theta)
    grad[d] = 0.5 * float(W @ kf)
    grad[d + 1] = 0.5 * noise * float(W[:: n + 1].sum())  # the diagonal is exact
    # dK/dlog(ls_k) = amp * 5/3 * (1 + t) e^-t * d2_k / ls_k^2
    t += 1.0
    t *= e
    t *= W
    grad[:d] = (d2 @ t) * (amp * 5.0 / 6.0) / ls2 + z / prior_sd
    return value, grad


def fit(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, warm: np.ndarray | None = None
) -> np.ndarray:
    """Hyperparameters maximising the marginal likelihood: L-BFGS-B from the best of a default
    and ``STARTS - 1`` random starting points, or, given the optimum of an earlier fit on
    much the same data (``warm``), from there for at most ``WARM_MAXITER`` steps."""
    d = X.shape[1]
    d2 = ((X.T[:, :, None] - X.T[:, None, :]) ** 2).reshape(d, -1)
    if warm is not None:
        start, maxiter = np.clip(warm, *_bounds(d).T), WARM_MAXITER
    else:
        starts = [np.array([math.log(0.3)] * d + [0.0, math.log(1e-3)])]
        for _ in range(STARTS - 1):
            ls = rng.uniform(math.log(0.05), math.log(2.0), d)
            starts.append(np.concatenate([ls, [rng.uniform(-1.0, 1.0), rng.uniform(-9.0, -3.0)]]))
        start = min(starts, key=lambda theta: _nll(theta, y, d2, gradient=False))
        maxiter = MAXITER
    result = optimize.minimize(
        neg_log_likelihood,
        start,
        args=(y, d2),
        jac=True,
        method="L-BFGS-B",
        bounds=_bounds(d),
        options={"maxiter": maxiter},
    )
    return result.x if np.isfinite(result.fun) else start


def _bounds(d: int) -> np.ndarray:
    return np.array([_LS_BOUNDS] * d + [_AMP_BOUNDS, _NOISE_BOUNDS])
