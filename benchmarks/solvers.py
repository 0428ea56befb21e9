"""Time to the optimum, per solver: ours against scikit-learn and NumPy, measured in one run.

The "solvers" issue's targets, on seeded AR(1)-correlated columns
(``xpgd.bench.make_ar1(n, p, rho=0.9, seed=0)``, 1M x 100 float64 by default):

* **Logistic** (L2 penalty, ``alpha = 1/n`` unless ``--alpha``; scikit-learn's
  ``C = 1 / (n alpha)`` has the same optimum): ours (``lbfgs``, ``nesterov``, ``gd``)
  against scikit-learn's ``LogisticRegression(solver="lbfgs")``. Target: ours / scikit-learn
  <= 0.5.
* **Linear** least squares (no penalty, ``y_real``): ours (``normal``, ``lbfgs``,
  ``nesterov``) against a NumPy normal-equations solve written as a NumPy user writes it
  (centre X and y, ``np.linalg.solve(Xc.T @ Xc, Xc.T @ yc)``, the centring timed), and, for
  information, the same solve centred through the Gram matrix (no copy of X) and
  scikit-learn's ``LinearRegression``. Target: ours / NumPy <= 1.2.
* **Multinomial** logistic on iris (3 classes, ``alpha = 1/n``): our final objective
  against scikit-learn's multinomial ``LogisticRegression`` with the matching L2 penalty.
  Target: relative difference <= 1e-6.

Objective: ``mean_i loss_i + alpha * 0.5 * ||w||^2`` (intercept unpenalised), with
``loss = logaddexp(0, z) - y z`` (logistic, y in {0, 1}), ``0.5 (z - y)^2`` (squared),
``logsumexp(z) - z_y`` (multinomial). It is evaluated here, independently of either
library, in NumPy float64 from each fit's ``coef_`` and ``intercept_``.

How "time to the optimum" is measured
-------------------------------------
1. A reference optimum ``f*``: the lowest objective among tight fits (logistic:
   scikit-learn lbfgs at ``tol=1e-12``, ours lbfgs at ``tol=1e-10``; linear: scikit-learn
   ``LinearRegression``, the NumPy solve and ours lbfgs at ``tol=1e-10``). Their spread is
   printed as a consistency check.
2. Each contender gets the same ladder of ``tol`` values (``--tols``, loosest first; the
   libraries' ``tol`` mean different things, so none is tuned). The first ``tol`` whose fit
   reaches ``f <= f* (1 + --target)`` is kept, and fits at that ``tol`` are timed: the
   reported seconds are the median of ``--repeat`` fits (the search fit at that ``tol`` is
   the first of them). Direct solvers (NumPy, scikit-learn ``LinearRegression``) are
   simply timed. A contender that stops at ``max_iter``, runs past ``--budget`` seconds in
   one fit (ours are stopped through the ``fit`` callback), or exhausts the ladder is
   reported as not reaching the target, with the best gap it reached.
3. A markdown table per problem: contender, ``tol`` used, iterations, median seconds,
   relative gap ``(f - f*) / |f*|`` and the ratio to the peer (scikit-learn lbfgs for
   logistic, the NumPy normal equations for linear).

Solvers that xpgd does not have yet (``InvalidParameterError``) print "not available" in
their row, so the script runs before and after they land. It never asserts a time.

Examples
--------
Unset the two OpenBLAS variables for benchmark runs (they slow a current NumPy)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/solvers.py --quick
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/solvers.py  # 1M x 100
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import xpgd
from xpgd.bench import make_ar1

LOGISTIC_SOLVERS = ("lbfgs", "nesterov", "gd")
LINEAR_SOLVERS = ("normal", "lbfgs", "nesterov")
IRIS_SOLVERS = ("lbfgs", "nesterov")
TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)
SKLEARN_MAX_ITER = 10_000


class _OverBudgetError(Exception):
    """Raised from our fit's callback once a fit has run past its time budget."""

    def __init__(self, iteration: int, loss: float) -> None:
        super().__init__(f"over budget at iteration {iteration}")
        self.iteration = iteration
        self.loss = loss


@dataclass
class Fit:
    """One fit's parameters (host float64), iterations and wall time."""

    coef: np.ndarray
    """Shape (p,) for binary logistic and linear, (K, p) for multinomial."""
    intercept: np.ndarray
    n_iter: int | None
    seconds: float
    capped: bool
    """Stopped by ``max_iter``: a tighter tol would not get further."""


@dataclass
class Contender:
    """A way to fit one problem: ``fit(tol, budget_s) -> Fit``; ``tol=None`` for direct
    solvers."""

    name: str
    fit: Callable[[float | None, float], Fit]
    uses_tol: bool = True


@dataclass
class Row:
    """One line of a table; ``seconds`` is NaN where the target was not reached."""

    name: str
    tol: float | None = None
    n_iter: int | None = None
    seconds: float = float("nan")
    gap: float = float("nan")
    note: str = ""


# ---------------------------------------------------------------------- objective


def _linear_predictor(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``X @ coef.T + intercept`` in float64; by row blocks for float32 X, so no float64
    copy of X is ever made."""
    if X.dtype == np.float64:
        return X @ coef.T + intercept
    out = np.empty((X.shape[0], *coef.shape[:-1]))
    block = 65_536
    for start in range(0, X.shape[0], block):
        rows = slice(start, start + block)
        out[rows] = X[rows].astype(np.float64) @ coef.T + intercept
    return out


def objective(
    kind: str, X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: Any, alpha: float
) -> float:
    """The objective of ``kind`` ("logistic", "squared", "multinomial") at ``(coef,
    intercept)``, in NumPy float64: ``mean loss + alpha * 0.5 * ||coef||^2``."""
    coef = np.asarray(coef, dtype=np.float64)
    z = _linear_predictor(X, coef, np.asarray(intercept, dtype=np.float64))
    if kind == "logistic":
        data = np.mean(np.logaddexp(0.0, z) - y * z)
    elif kind == "squared":
        data = np.mean(0.5 * (z - y) ** 2)
    else:  # multinomial, y holds class codes 0..K-1
        top = z.max(axis=1, keepdims=True)
        logsumexp = top[:, 0] + np.log(np.sum(np.exp(z - top), axis=1))
        data = np.mean(logsumexp - z[np.arange(z.shape[0]), y.astype(np.intp)])
    return float(data) + 0.5 * alpha * float(np.sum(coef * coef))


def _params(model: Any, multiclass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    coef = np.asarray(xpgd.to_numpy(model.coef_), dtype=np.float64)
    intercept = np.asarray(xpgd.to_numpy(model.intercept_), dtype=np.float64)
    if multiclass:
        return coef, intercept
    return coef.reshape(-1), intercept.reshape(-1)[0]


# ---------------------------------------------------------------------- contenders


def ours(
    cls: type,
    solver: str,
    X: np.ndarray,
    y: np.ndarray,
    args: argparse.Namespace,
    *,
    alpha: float | None = None,
    multiclass: bool = False,
) -> Contender:
    """Our estimator ``cls`` with ``solver`` (L2 with ``alpha`` when given, else none)."""
    penalty = {"penalty": "l2", "alpha": alpha} if alpha is not None else {"penalty": None}

    def fit(tol: float | None, budget_s: float) -> Fit:
        model = cls(
            solver=solver,
            tol=tol,
            max_iter=args.max_iter,
            check_every=args.check_every,
            **penalty,
        )
        start = time.perf_counter()

        def stop_over_budget(iteration: int, loss: float, grad_max: float) -> None:
            if time.perf_counter() - start > budget_s:
                raise _OverBudgetError(iteration, loss)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xpgd.ConvergenceWarning)
            model.fit(X, y, callback=stop_over_budget)
        seconds = time.perf_counter() - start
        coef, intercept = _params(model, multiclass)
        n_iter = int(model.n_iter_)
        return Fit(coef, intercept, n_iter, seconds, n_iter >= args.max_iter)

    return Contender(f"ours {solver}", fit)


def sklearn_logistic(
    X: np.ndarray, y: np.ndarray, alpha: float, multiclass: bool = False
) -> Contender:
    """scikit-learn's ``LogisticRegression(solver="lbfgs")`` on the same objective."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def fit(tol: float | None, budget_s: float) -> Fit:
        model = LogisticRegression(
            C=1.0 / (X.shape[0] * alpha), solver="lbfgs", tol=tol, max_iter=SKLEARN_MAX_ITER
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        seconds = time.perf_counter() - start
        coef, intercept = _params(model, multiclass)
        n_iter = int(np.max(model.n_iter_))
        return Fit(coef, intercept, n_iter, seconds, n_iter >= SKLEARN_MAX_ITER)

    return Contender("scikit-learn lbfgs", fit)


def sklearn_linear(X: np.ndarray, y: np.ndarray) -> Contender:
    """scikit-learn's ``LinearRegression`` (centres a copy of X, then ``lstsq``)."""
    from sklearn.linear_model import LinearRegression

    def fit(tol: float | None, budget_s: float) -> Fit:
        start = time.perf_counter()
        model = LinearRegression().fit(X, y)
        seconds = time.perf_counter() - start
        coef, intercept = _params(model)
        return Fit(coef, intercept, None, seconds, False)

    return Contender("scikit-learn LinearRegression", fit, uses_tol=False)


def numpy_normal_equations(X: np.ndarray, y: np.ndarray) -> Contender:
    """Normal equations as a NumPy user writes them: centre (a copy of) X and y, solve."""

    def fit(tol: float | None, budget_s: float) -> Fit:
        start = time.perf_counter()
        x_mean = X.mean(axis=0)
        y_mean = y.mean()
        Xc = X - x_mean
        coef = np.linalg.solve(Xc.T @ Xc, Xc.T @ (y - y_mean))
        intercept = y_mean - x_mean @ coef
        seconds = time.perf_counter() - start
        return Fit(np.asarray(coef, np.float64), np.float64(intercept), None, seconds, False)

    return Contender("NumPy normal equations (centred copy)", fit, uses_tol=False)


def numpy_gram_centred(X: np.ndarray, y: np.ndarray) -> Contender:
    """Normal equations centred through the Gram matrix: no copy of X (as ``xpgd bench``)."""

    def fit(tol: float | None, budget_s: float) -> Fit:
        start = time.perf_counter()
        n = X.shape[0]
        x_mean = X.mean(axis=0)
        y_mean = y.mean()
        gram = X.T @ X - n * np.outer(x_mean, x_mean)
        coef = np.linalg.solve(gram, X.T @ y - n * y_mean * x_mean)
        intercept = y_mean - x_mean @ coef
        seconds = time.perf_counter() - start
        return Fit(np.asarray(coef, np.float64), np.float64(intercept), None, seconds, False)

    return Contender("NumPy normal equations (Gram-centred, no copy)", fit, uses_tol=False)


# ---------------------------------------------------------------------- measuring


def _why(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    if len(message) > 90:
        message = message[:87] + "..."
    return f"{type(exc).__name__}: {message}"


def _try_fit(
    contender: Contender, tol: float | None, budget_s: float, f_star: float | None = None
) -> Fit | str:
    """The fit, or why there is none ("not available", over budget, an error)."""
    try:
        return contender.fit(tol, budget_s)
    except xpgd.InvalidParameterError as exc:
        return f"not available ({_why(exc)})"
    except _OverBudgetError as exc:
        where = f"at iteration {exc.iteration}"
        if f_star is not None:  # the fit's own loss there, as its callback reported it
            where += f", its own loss {(exc.loss - f_star) / abs(f_star):+.1e} from f*"
        return f"over the {budget_s:g} s budget at tol {tol:g} ({where})"
    except Exception as exc:
        # Any other error (a solver mid-implementation, a divergence) fails this row only,
        # and the row says why.
        return f"failed ({_why(exc)})"


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def reference(
    candidates: list[tuple[Contender, float | None]], evaluate: Callable[[Fit], float]
) -> float:
    """Print each tight fit's objective; return the lowest, ``f*``."""
    values = []
    for contender, tol in candidates:
        fit = _try_fit(contender, tol, budget_s=float("inf"))
        at = "" if tol is None else f" tol={tol:g}"
        if isinstance(fit, str):
            print(f"- {contender.name}{at}: {fit}")
            continue
        value = evaluate(fit)
        values.append(value)
        iters = "" if fit.n_iter is None else f", {fit.n_iter} it."
        print(f"- {contender.name}{at}: f = {value:.15g} ({fit.seconds:.3g} s{iters})")
    if not values:
        raise SystemExit("no reference fit succeeded")
    f_star = min(values)
    spread = (max(values) - f_star) / abs(f_star)
    print(f"\nf* = {f_star:.15g} (lowest; spread of the reference fits {spread:.1e} relative)\n")
    return f_star


def time_to_target(
    contender: Contender,
    f_star: float,
    evaluate: Callable[[Fit], float],
    args: argparse.Namespace,
) -> Row:
    """The loosest tol of the ladder whose fit reaches ``f* (1 + target)``, timed."""
    row = Row(contender.name)
    best: tuple[float, float | None, int | None] | None = None  # gap, tol, iterations
    for tol in args.tols if contender.uses_tol else (None,):
        fit = _try_fit(contender, tol, args.budget, f_star)
        if isinstance(fit, str):
            row.note = fit
            break
        gap = (evaluate(fit) - f_star) / abs(f_star)
        iters = "" if fit.n_iter is None else f", {fit.n_iter} it."
        _progress(f"{contender.name} tol={tol}: gap {gap:+.2e}{iters}, {fit.seconds:.3g} s")
        if best is None or gap < best[0]:
            best = (gap, tol, fit.n_iter)
        if gap <= args.target:
            times = [fit.seconds]
            for _ in range(args.repeat - 1):
                again = _try_fit(contender, tol, float("inf"))
                if isinstance(again, str):  # pragma: no cover - a repeat that fails
                    row.note = f"a repeat {again}"
                    break
                times.append(again.seconds)
            row.tol, row.n_iter, row.gap = tol, fit.n_iter, gap
            row.seconds = statistics.median(times)
            if gap < -args.target:
                row.note = "below f*: the reference fits stopped short of the optimum"
            return row
        if fit.capped:
            row.note = f"stopped at max_iter={args.max_iter}"
            break
    if best is not None:
        gap, tol, n_iter = best
        row.gap, row.tol, row.n_iter = gap, tol, n_iter
        reason = f": {row.note}" if row.note else ""
        row.note = f"target {args.target:g} not reached{reason}; best gap shown"
    return row


def print_table(rows: list[Row], peer: str) -> None:
    """Markdown table; ratios are seconds over the peer row's seconds."""
    peer_seconds = next((r.seconds for r in rows if r.name == peer), float("nan"))
    print("| contender | tol | iterations | median s | relative gap | ratio to peer | note |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        tol = "—" if r.tol is None else f"{r.tol:.0e}"
        iters = "—" if r.n_iter is None else str(r.n_iter)
        seconds = "—" if np.isnan(r.seconds) else f"{r.seconds:.4g}"
        gap = "—" if np.isnan(r.gap) else f"{r.gap:+.1e}"
        ratio = "—" if np.isnan(r.seconds / peer_seconds) else f"{r.seconds / peer_seconds:.3g}"
        print(f"| {r.name} | {tol} | {iters} | {seconds} | {gap} | {ratio} | {r.note} |")
    ours_rows = [r for r in rows if r.name.startswith("ours") and not np.isnan(r.seconds)]
    if ours_rows and not np.isnan(peer_seconds):
        fastest = min(ours_rows, key=lambda r: r.seconds)
        print(f"\nfastest of ours: {fastest.name}, {fastest.seconds / peer_seconds:.3g}x the peer")
    print(flush=True)


# ---------------------------------------------------------------------- problems


def logistic_problem(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> None:
    alpha = args.alpha if args.alpha is not None else 1.0 / X.shape[0]
    print(f"## Logistic, L2 alpha = {alpha:.3g} (scikit-learn C = {1 / (X.shape[0] * alpha):g})")
    print("\nReference fits:")

    def evaluate(fit: Fit) -> float:
        return objective("logistic", X, y, fit.coef, fit.intercept, alpha)

    peer = sklearn_logistic(X, y, alpha)
    f_star = reference(
        [(peer, 1e-12), (ours(xpgd.LogisticRegression, "lbfgs", X, y, args, alpha=alpha), 1e-10)],
        evaluate,
    )
    contenders = [peer] + [
        ours(xpgd.LogisticRegression, s, X, y, args, alpha=alpha) for s in args.logistic_solvers
    ]
    rows = [time_to_target(c, f_star, evaluate, args) for c in contenders]
    print(f"Time to f <= f* (1 + {args.target:g}); target ours / scikit-learn lbfgs <= 0.5:\n")
    print_table(rows, peer.name)


def linear_problem(X: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> None:
    print("## Linear least squares, no penalty")
    print("\nReference fits:")

    def evaluate(fit: Fit) -> float:
        return objective("squared", X, y, fit.coef, fit.intercept, 0.0)

    peer = numpy_normal_equations(X, y)
    sk = sklearn_linear(X, y)
    f_star = reference(
        [(sk, None), (peer, None), (ours(xpgd.LinearRegression, "lbfgs", X, y, args), 1e-10)],
        evaluate,
    )
    contenders = [peer, numpy_gram_centred(X, y), sk] + [
        ours(xpgd.LinearRegression, s, X, y, args) for s in args.linear_solvers
    ]
    rows = [time_to_target(c, f_star, evaluate, args) for c in contenders]
    print(f"Time to f <= f* (1 + {args.target:g}); target ours / NumPy normal equations <= 1.2:\n")
    print_table(rows, peer.name)


def iris_problem(args: argparse.Namespace) -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    alpha = 1.0 / X.shape[0]
    print("## Multinomial on iris (150 x 4, 3 classes), L2 alpha = 1/150 (C = 1)\n")

    def evaluate(fit: Fit) -> float:
        return objective("multinomial", X, y, fit.coef, fit.intercept, alpha)

    sk = _try_fit(sklearn_logistic(X, y, alpha, multiclass=True), 1e-12, float("inf"))
    if isinstance(sk, str):
        print(f"scikit-learn: {sk}\n")
        return
    f_sk = evaluate(sk)
    print(f"scikit-learn lbfgs tol=1e-12: f = {f_sk:.15g} ({sk.n_iter} it.)\n")
    print("| ours | tol | iterations | objective | (ours - scikit-learn) / scikit-learn |")
    print("| --- | --- | ---: | ---: | ---: |")
    for solver in args.iris_solvers:
        contender = ours(xpgd.LogisticRegression, solver, X, y, args, alpha=alpha, multiclass=True)
        fit = _try_fit(contender, args.iris_tol, args.budget)
        if isinstance(fit, str):
            print(f"| {solver} | {args.iris_tol:.0e} | — | — | {fit} |")
            continue
        value = evaluate(fit)
        print(
            f"| {solver} | {args.iris_tol:.0e} | {fit.n_iter} | {value:.15g} | "
            f"{(value - f_sk) / abs(f_sk):+.1e} |"
        )
    print("\ntarget: |relative difference| <= 1e-6\n", flush=True)


# ---------------------------------------------------------------------- main


def machine(args: argparse.Namespace) -> None:
    import sklearn
    import threadpoolctl

    command = " ".join(["python", *sys.argv])
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    print("# Solvers: time to the optimum\n")
    print(f"- command: `{command}`")
    print(f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"- machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"- versions: Python {platform.python_version()}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, xpgd {xpgd.__version__}"
    )
    for pool in threadpoolctl.threadpool_info():
        print(
            f"- {pool['user_api']}: {pool['internal_api']} {pool.get('version')}, "
            f"{pool['num_threads']} threads ({pool.get('architecture', '?')}, "
            f"{os.path.basename(pool['filepath'])})"
        )
    if unset:
        print(f"- warning: {', '.join(unset)} set; unset them for benchmark runs")
    print(
        f"- data: {args.n} x {args.p} {args.dtype}, AR(1) rho={args.rho}, seed 0; "
        f"median of {args.repeat}; tol ladder {', '.join(f'{t:g}' for t in args.tols)}; "
        f"budget {args.budget:g} s per fit; ours max_iter={args.max_iter}, "
        f"check_every={args.check_every}; scikit-learn max_iter={SKLEARN_MAX_ITER}\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def floats(text: str) -> tuple[float, ...]:
        return tuple(float(t) for t in text.split(","))

    def names(text: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in text.split(",") if t.strip())

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None, help="rows (default 1_000_000)")
    parser.add_argument("--p", type=int, default=100, help="columns")
    parser.add_argument("--rho", type=float, default=0.9, help="AR(1) correlation of columns")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--repeat", type=int, default=3, help="timed fits per contender")
    parser.add_argument("--quick", action="store_true", help="100k rows, 30 s budget")
    parser.add_argument("--alpha", type=float, default=None, help="logistic L2 (default 1/n)")
    parser.add_argument("--target", type=float, default=1e-6, help="relative gap to reach")
    parser.add_argument("--tols", type=floats, default=TOLS, help="comma-separated ladder")
    parser.add_argument("--budget", type=float, default=None, help="seconds per fit of ours")
    parser.add_argument("--max-iter", type=int, default=100_000, help="ours")
    parser.add_argument("--check-every", type=int, default=10, help="ours")
    parser.add_argument("--problems", type=names, default=("logistic", "linear", "iris"))
    parser.add_argument("--logistic-solvers", type=names, default=LOGISTIC_SOLVERS)
    parser.add_argument("--linear-solvers", type=names, default=LINEAR_SOLVERS)
    parser.add_argument("--iris-solvers", type=names, default=IRIS_SOLVERS)
    parser.add_argument("--iris-tol", type=float, default=1e-10)
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 100_000 if args.quick else 1_000_000
    if args.budget is None:
        args.budget = 30.0 if args.quick else 120.0
    unknown = set(args.problems) - {"logistic", "linear", "iris"}
    if unknown:
        parser.error(f"unknown problems {sorted(unknown)}; choose from logistic, linear, iris")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine(args)
    if {"logistic", "linear"} & set(args.problems):
        X, y_class, y_real = make_ar1(args.n, args.p, rho=args.rho, seed=0, dtype=args.dtype)
        if "logistic" in args.problems:
            logistic_problem(X, y_class, args)
        if "linear" in args.problems:
            linear_problem(X, y_real, args)
        del X, y_class, y_real
    if "iris" in args.problems:
        iris_problem(args)


if __name__ == "__main__":
    main()
