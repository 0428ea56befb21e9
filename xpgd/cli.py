"""The ``xpgd`` command (also ``python -m xpgd``).

    xpgd demo      [--backend B] [--out DIR]           the classic experiments, built in
    xpgd fit DATA.csv --target COLUMN [...]            the car experiment for any CSV or
                                                       Parquet file (through Dask with
                                                       --backend dask or --scheduler)
    xpgd backends                                      what is installed, versions, devices
    xpgd compare   [DATA.csv --target COLUMN] [...]    agreement of every backend with NumPy

Bad input ends with one line on stderr (``xpgd: error: ...``) and exit status 2, never a
traceback; anything else is a bug of ours and says so (``xpgd: internal error: ...``, exit
status 1). ``XPGD_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
import time
from typing import Any

import array_api_compat
import numpy as np

import xpgd
from xpgd import metrics
from xpgd._backend import resolve_choice
from xpgd._core.optim import SOLVERS
from xpgd.exceptions import InputError, XpgdError
from xpgd.preprocessing import is_numeric_column

__all__ = ["main"]


# --------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on stderr for long fits (a solver callback).

    It appears only after ``delay`` seconds, so quick fits print nothing, and only on a
    terminal unless forced (``--progress``).
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "fit",
        force: bool | None = None,
        delay: float = 0.5,
        stream: Any = None,
    ) -> None:
        self.total, self.label, self.delay = max(total, 1), label, delay
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if force is None else force
        self.start = time.perf_counter()
        self.shown = False

    def __call__(self, iteration: int, loss: float, grad_max: float) -> None:
        if not self.enabled or time.perf_counter() - self.start < self.delay:
            return
        done = min(iteration / self.total, 1.0)
        bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
        # The stochastic solvers report per epoch, without a full gradient (NaN).
        tail = "" if math.isnan(grad_max) else f"  max|grad| {grad_max:.2e}"
        self.stream.write(f"\r{self.label} [{bar}] {iteration}/{self.total}  loss {loss:.6g}{tail}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- helpers


def _check_backend(args: argparse.Namespace) -> None:
    resolve_choice(args.backend, getattr(args, "device", None))  # one clear error, early


def _print_block(title: str) -> None:
    print(f"\n== {title} ==")


def _matrix_text(cm: Any, labels: Any) -> str:
    cm, names = xpgd.to_numpy(cm), [str(v) for v in xpgd.to_numpy(labels).tolist()]
    width = max(8, *(len(n) for n in names)) + 1
    head = " " * width + "".join(f"{n:>{width}}" for n in names) + "   <- predicted"
    rows = [
        f"{n:>{width}}" + "".join(f"{int(v):>{width}}" for v in row)
        for n, row in zip(names, cm, strict=True)
    ]
    return "\n".join([head, *rows])


def _learning_rate(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'auto'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the learning rate must be positive")
    return value


# --------------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace) -> int:
    from xpgd import plotting
    from xpgd.datasets import load_diabetes, load_iris
    from xpgd.model_selection import train_test_split

    _check_backend(args)
    out = pathlib.Path(args.out)
    backend, device = args.backend, args.device
    written = []

    # The classic logistic experiment, exactly: z-score on all rows, bias, 20 % held out,
    # zero start, learning rate 0.05, 1000 gradient steps.
    iris = load_iris(binary=True)
    X = (iris.X - iris.X.mean(axis=0)) / iris.X.std(axis=0, ddof=1)
    X = np.hstack([np.ones((len(X), 1)), X])
    y = iris.y.astype(np.float64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    X_tr, y_tr, X_te = (xpgd.to_backend(a, backend, device) for a in (X_tr, y_tr, X_te))
    _print_block("Logistic regression: iris, setosa vs the rest (the classic exercise)")
    print(
        f"backend {xpgd.get_backend() if backend is None else backend}"
        f"{'' if device is None else f' on {device}'}; "
        f"{X_tr.shape[0]} training rows, {X_te.shape[0]} held out; 4 features z-scored "
        "+ bias; zero start; learning rate 0.05; 1000 iterations"
    )
    params0 = xpgd.to_backend(np.zeros(X.shape[1]), backend, device)
    cost, params = xpgd.gradient_descent(X_tr, y_tr, params0, 0.05, 1000, loss="logistic")
    cost_host = xpgd.to_numpy(cost)
    n_train = X_tr.shape[0]
    print(
        f"Initial cost: {cost_host[0]:.6f} mean log loss (summed over the {n_train} training "
        f"rows: {n_train * cost_host[0]:.4f} = {n_train} ln 2)"
    )
    print(f"Final cost:   {cost_host[-1]:.6f} (summed: {n_train * cost_host[-1]:.4f})")
    predicted = xpgd.to_numpy(xpgd.predict(X_te, params)) >= 0.5
    labels = np.array(iris.target_names)
    truth_named, pred_named = labels[y_te.astype(int)], labels[predicted.astype(int)]
    cm, cm_labels = metrics.confusion_matrix(truth_named, pred_named, labels=labels)
    print("Confusion matrix on the held-out rows (rows: true):")
    print(_matrix_text(cm, cm_labels))
    print(metrics.classification_report(truth_named, pred_named, labels=labels))
    written.append(
        plotting.plot_cost_history(
            cost,
            out / "iris_cost_history.png",
            title="Iris, setosa vs rest: gradient descent (lr 0.05)",
            ylabel="Mean log loss",
        )
    )
    written.append(
        plotting.plot_confusion_matrix(
            cm, cm_labels, out / "iris_confusion_matrix.png", title="Iris: held-out confusion"
        )
    )

    # Linear regression on real data that ships with scikit-learn: the car recipe
    # (z-scored features and target, 10 % held out), classic and to convergence.
    from xpgd.preprocessing import prepare

    diabetes = load_diabetes()
    import pandas as pd

    df = pd.DataFrame(diabetes.X, columns=diabetes.feature_names)
    df["sex"] = df["sex"].astype(int)
    df["progression"] = diabetes.y
    data = prepare(
        df,
        "progression",
        test_size=0.1,
        random_state=args.seed,
        categorical=["sex"],
        backend=backend,
        device=device,
    )
    pre = data.preprocessor
    _print_block("Linear regression: diabetes progression (442 patients, 10 measurements)")
    print(
        f"{data.X_train.shape[0]} training rows, {data.X_test.shape[0]} held out; numeric "
        "columns and target z-scored on the training rows; 'sex' one-hot encoded"
    )
    ones = xpgd.to_backend(np.ones((data.X_train.shape[0], 1)), backend, device)
    xp = xpgd._backend.namespace(xpgd._backend.backend_name_of(data.X_train))
    Xb = xp.concat([ones, data.X_train], axis=1)
    cost, params = xpgd.gradient_descent(
        Xb,
        data.y_train,
        xp.zeros(Xb.shape[1], dtype=Xb.dtype, device=array_api_compat.device(Xb)),
        0.03,
        100,
        loss="squared",
    )
    ones_te = xpgd.to_backend(np.ones((data.X_test.shape[0], 1)), backend, device)
    classic = pre.inverse_transform_target(
        xpgd.predict(xp.concat([ones_te, data.X_test], axis=1), params, loss="squared")
    )
    model = xpgd.LinearRegression(backend=backend, device=device).fit(data.X_train, data.y_train)
    fitted = pre.inverse_transform_target(model.predict(data.X_test))
    truth = pre.inverse_transform_target(data.y_test)
    print(
        f"classic gradient descent (lr 0.03, 100 iterations): cost {float(cost[0]):.4f} -> "
        f"{float(cost[-1]):.4f} (MSE, scaled target)"
    )
    unit = "solve" if model.solver_ == "normal" else "iteration"
    print(
        f"LinearRegression (solver {model.solver_!r}): {model.n_iter_} {unit}"
        f"{'' if model.n_iter_ == 1 else 's'}"
    )
    print(f"{'held-out metrics':34s} {'MSE':>10s} {'RMSE':>8s} {'MAE':>8s} {'R^2':>7s}")
    for name, pred in (("classic, 100 iterations", classic), ("LinearRegression", fitted)):
        print(
            f"{name:34s} {metrics.mean_squared_error(truth, pred):10.1f} "
            f"{metrics.root_mean_squared_error(truth, pred):8.2f} "
            f"{metrics.mean_absolute_error(truth, pred):8.2f} "
            f"{metrics.r2_score(truth, pred):7.3f}"
        )
    written.append(
        plotting.plot_cost_history(
            cost,
            out / "diabetes_cost_history.png",
            title="Diabetes: gradient descent (lr 0.03)",
            ylabel="MSE (scaled target)",
        )
    )
    written.append(
        plotting.plot_predictions(
            truth,
            fitted,
            out / "diabetes_predictions.png",
            title="Diabetes: predicted and true progression (held out)",
        )
    )
    print("\nPlots: " + ", ".join(str(p) for p in written))
    return 0


# --------------------------------------------------------------------------- fit


def _fit(args: argparse.Namespace) -> int:
    """``xpgd fit``; with ``--scheduler``, on an existing Dask cluster."""
    if not args.scheduler:
        return _fit_here(args)
    if args.backend not in (None, "dask"):
        raise InputError(
            f"--scheduler runs the fit on a Dask cluster, but --backend is {args.backend!r}; "
            "use --backend dask or leave it out"
        )
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--scheduler needs dask.distributed: pip install 'xpgd[distributed]'"
        ) from None
    try:
        client = Client(args.scheduler, timeout=5)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach a Dask scheduler at {args.scheduler!r} ({exc}); start one "
            "(`dask scheduler`, or a LocalCluster) and pass its address, e.g. "
            "tcp://127.0.0.1:8786"
        ) from None
    with client:
        print(f"Dask cluster {args.scheduler}: {len(client.scheduler_info()['workers'])} workers")
        args.backend = "dask"
        return _fit_here(args)


#: Most held-out points a plot of a Dask fit draws (a seeded random sample of them).
PLOT_SAMPLE = 1000
#: Distinct target values the Dask path collects at most: enough to tell a class count
#: from a continuous target without gathering every value of a big column.
MAX_CLASSES = 100


def _derived_rules(args: argparse.Namespace) -> dict[str, str]:
    derived = {}
    for rule in args.derive or []:
        name, sep, expr = rule.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--derive {rule!r}: use NAME=EXPRESSION, e.g. 'Age=2020 - Year'")
        derived[name.strip()] = expr.strip()
    return derived


def _check_target(
    args: argparse.Namespace, *, blanks: int, n_rows: int, numeric: bool, dtype: Any
) -> str:
    """``--model`` (None: guess it); errors for blank targets or a text target of a linear
    model (a guessed model is linear only for a numeric target)."""
    if blanks == n_rows:
        raise InputError(f"target column {args.target!r} has no values (all blank)")
    if blanks:
        raise InputError(
            f"target column {args.target!r} has {blanks} blank values; drop those rows first"
        )
    if args.model == "linear" and not numeric:
        raise InputError(
            f"target column {args.target!r} is not numeric ({dtype}); "
            "use --model logistic for class labels"
        )
    return args.model


def _check_classes(args: argparse.Namespace, n_classes: int, *, capped: bool = False) -> None:
    if n_classes != 2:
        count = f"more than {n_classes - 1}" if capped else str(n_classes)
        raise InputError(
            f"target column {args.target!r} has {count} class"
            f"{'es' if n_classes != 1 else ''}; logistic regression "
            "needs exactly 2"
        )


def _fit_here(args: argparse.Namespace) -> int:
    _check_backend(args)
    if resolve_choice(args.backend, args.device).name == "dask":
        return _fit_dask(args)
    if args.blocksize is not None:
        raise InputError(
            "--blocksize sets the size of the blocks Dask reads; use it with --backend dask "
            "or --scheduler"
        )
    from xpgd import plotting
    from xpgd.datasets import read_table
    from xpgd.preprocessing import prepare

    df = read_table(args.data)
    if args.target not in df.columns:
        raise InputError(
            f"target column {args.target!r} not found in {args.data}; columns "
            f"are {list(df.columns)}"
        )
    derived = _derived_rules(args)
    y_col = df[args.target]
    numeric = is_numeric_column(y_col)
    blanks = int(y_col.isna().sum())
    model_kind = _check_target(
        args, blanks=blanks, n_rows=len(df), numeric=numeric, dtype=y_col.dtype
    ) or _guess_model(y_col)
    if model_kind == "logistic":
        _check_classes(args, y_col.nunique())
    data = prepare(df, **_prepare_options(args, derived, model_kind), backend=args.backend)
    pre, out = data.preprocessor, pathlib.Path(args.out)
    _print_sizes(args, len(df), model_kind, data)
    model = _fit_model(args, model_kind, data)
    written = [_plot_history(args, model, out)]
    if model_kind == "linear":
        pred = pre.inverse_transform_target(model.predict(data.X_test))
        truth = pre.inverse_transform_target(data.y_test)
        for name, fn in (
            ("MSE", metrics.mean_squared_error),
            ("RMSE", metrics.root_mean_squared_error),
            ("MAE", metrics.mean_absolute_error),
            ("R^2", metrics.r2_score),
        ):
            print(f"held-out {name:5s} {fn(truth, pred):.6g}")
        written.append(
            plotting.plot_predictions(
                truth, pred, out / "predictions.png", title=f"{args.target}: held-out rows"
            )
        )
    else:
        pred = model.predict(data.X_test)
        cm, labels = metrics.confusion_matrix(data.y_test, pred)
        print(f"held-out accuracy {metrics.accuracy_score(data.y_test, pred):.4f}")
        print(_matrix_text(cm, labels))
        print(metrics.classification_report(data.y_test, pred))
        written.append(plotting.plot_confusion_matrix(cm, labels, out / "confusion_matrix.png"))
    written.append(_save_model(args, model, pre, derived, out))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _fit_dask(args: argparse.Namespace) -> int:
    """``xpgd fit`` through Dask: the file is read in blocks, never whole.

    Passes over the data: one for the row count and the target checks, one to fit the
    preprocessing (plus one with --classic folded into it), then the fit's own (one per
    iteration, or one on a cluster that can keep the training rows), two for the
    regression metrics or one for the confusion matrix, and one for the plotted sample.
    """
    from xpgd import plotting
    from xpgd._backend import materialize
    from xpgd.datasets import csv_read_errors, read_table
    from xpgd.preprocessing import _dask_target_summary, prepare

    df = read_table(args.data, backend="dask", blocksize=args.blocksize)
    if args.target not in df.columns:
        raise InputError(
            f"target column {args.target!r} not found in {args.data}; columns "
            f"are {list(df.columns)}"
        )
    derived = _derived_rules(args)
    with csv_read_errors(args.data):  # a CSV block is parsed only when computed
        summary = _dask_target_summary(df, args.target, max_classes=MAX_CLASSES)
        n_rows = sum(summary["partition_lengths"])
        if n_rows == 0:
            raise InputError(f"{args.data} has no data rows")
        numeric, values = summary["numeric"], summary["values"]
        dtype = df._meta[args.target].dtype
        model_kind = _check_target(
            args, blanks=summary["missing"], n_rows=n_rows, numeric=numeric, dtype=dtype
        ) or ("linear" if numeric and len(values) > 2 else "logistic")
        if model_kind == "logistic":
            _check_classes(args, len(values), capped=len(values) > MAX_CLASSES)
        data = prepare(
            df,
            **_prepare_options(args, derived, model_kind),
            backend="dask",
            partition_lengths=summary["partition_lengths"],
        )
        pre, out = data.preprocessor, pathlib.Path(args.out)
        print(
            f"read through Dask: {len(summary['partition_lengths'])} partitions, each read "
            "when a computation needs it"
        )
        _print_sizes(args, n_rows, model_kind, data)
        model = _fit_model(args, model_kind, data)
        written = [_plot_history(args, model, out)]
        n_test = data.X_test.shape[0]
        if model_kind == "linear":
            pred = pre.inverse_transform_target(model.predict(data.X_test))
            truth = pre.inverse_transform_target(data.y_test)
            scores = metrics.regression_scores(truth, pred)  # chunk by chunk, two passes
            for name, value in zip(("MSE", "RMSE", "MAE", "R^2"), scores, strict=True):
                print(f"held-out {name:5s} {value:.6g}")
            # A plot of a big test set would need it on the host: draw a sample of it.
            if n_test > PLOT_SAMPLE:
                rows = np.sort(
                    np.random.default_rng(args.seed).choice(n_test, PLOT_SAMPLE, replace=False)
                )
                truth, pred = truth[rows], pred[rows]
            xp = array_api_compat.array_namespace(truth)
            truth, pred = materialize(truth, pred, xp=xp)  # one pass for both
            shown = min(n_test, PLOT_SAMPLE)
            written.append(
                plotting.plot_predictions(
                    truth,
                    pred,
                    out / "predictions.png",
                    title=f"{args.target}: held-out rows"
                    + ("" if shown == n_test else f" ({shown} of {n_test}, random)"),
                )
            )
            print(
                f"predictions.png plots {shown} of the {n_test} held-out rows"
                + ("" if shown == n_test else " (a seeded random sample: the plot stays small)")
            )
        else:
            pred = model.predict(data.X_test)
            cm, labels = metrics.confusion_matrix(data.y_test, pred, labels=model.classes_)
            cm = xpgd.to_numpy(cm)  # one pass; everything below comes from these counts
            print(f"held-out accuracy {float(np.trace(cm) / cm.sum()):.4f}")
            print(_matrix_text(cm, labels))
            print(metrics.classification_report_from_matrix(cm, labels))
            written.append(plotting.plot_confusion_matrix(cm, labels, out / "confusion_matrix.png"))
    written.append(_save_model(args, model, pre, derived, out))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _print_sizes(args: argparse.Namespace, n_rows: int, model_kind: str, data: Any) -> None:
    fitted_on = "all rows, as the classic" if args.classic else "the training rows"
    print(
        f"{args.data}: {n_rows} rows; target {args.target!r}; {model_kind} regression; "
        f"{len(data.preprocessor.feature_names_out_)} features after encoding; "
        f"{data.X_train.shape[0]} training rows, {data.X_test.shape[0]} held out "
        f"(preprocessing fitted on {fitted_on})"
    )


def _fit_model(args: argparse.Namespace, model_kind: str, data: Any) -> Any:
    estimator_cls = xpgd.LinearRegression if model_kind == "linear" else xpgd.LogisticRegression
    options: dict[str, Any] = {
        "solver": args.solver,
        "learning_rate": args.learning_rate,
        "max_iter": args.max_iter,
        "backend": args.backend,
        "device": args.device,
    }
    if args.alpha is not None:
        options.update(penalty="l2", alpha=args.alpha)
    elif model_kind == "linear":
        options.update(penalty=None)
    if args.penalty is not None:
        options.update(penalty=None if args.penalty == "none" else args.penalty)
    options.update(l1_ratio=args.l1_ratio, random_state=args.seed)
    model = estimator_cls(**options)
    progress = Progress(args.max_iter, force=args.progress)
    try:
        model.fit(data.X_train, data.y_train, callback=progress)
    finally:
        progress.close()
    print(
        f"fitted by {model.solver_} in {model.n_iter_} iterations; cost "
        f"{float(model.loss_history_[0]):.6g} -> {float(model.loss_history_[-1]):.6g}"
    )
    return model


def _plot_history(args: argparse.Namespace, model: Any, out: pathlib.Path) -> pathlib.Path:
    from xpgd import plotting

    return plotting.plot_cost_history(
        model.loss_history_,
        out / "cost_history.png",
        title=f"{args.target}: cost per iteration",
    )


def _save_model(
    args: argparse.Namespace, model: Any, pre: Any, derived: dict[str, str], out: pathlib.Path
) -> pathlib.Path:
    return xpgd._io.save(
        model,
        out / "model.npz",
        extra={
            "target": args.target,
            "features": pre.feature_names_out_,
            "mean": pre.mean_,
            "scale": pre.scale_,
            "categories": pre.categories_,
            "derived": derived,
            "drop": list(args.drop or []),
        },
    )


def _prepare_options(
    args: argparse.Namespace, derived: dict[str, str], model_kind: str
) -> dict[str, Any]:
    """The arguments of :func:`xpgd.preprocessing.prepare` that the command's options give
    (the same with and without Dask)."""
    return {
        "target": args.target,
        "test_size": args.test_size,
        "random_state": args.seed,
        "fit_on": "all" if args.classic else "train",
        "device": args.device,
        "dtype": args.dtype,
        "categorical": args.categorical,
        "drop": args.drop or (),
        "derived": derived,
        "scale_target": model_kind == "linear",
    }


def _guess_model(y: Any) -> str:
    return "linear" if is_numeric_column(y) and y.nunique() > 2 else "logistic"


# --------------------------------------------------------------------------- backends


def _backends(args: argparse.Namespace) -> int:
    print(f"{'backend':18s} {'version':12s} devices / why not available")
    for name, info in xpgd.available_backends(include_unavailable=True).items():
        if info.available:
            devices = ", ".join(str(d) for d in info.devices)
            print(f"{name:18s} {info.version or '?':12s} {devices}")
        else:
            print(f"{name:18s} {'-':12s} unavailable: {info.reason}")
    print(f"in effect: {xpgd.get_backend()} (XPGD_BACKEND={os.environ.get('XPGD_BACKEND', '')!r})")
    return 0


# --------------------------------------------------------------------------- compare


def _compare(args: argparse.Namespace) -> int:
    from xpgd.compare import compare_backends, format_agreement

    if args.data:
        from xpgd.datasets import read_csv
        from xpgd.preprocessing import TabularPreprocessor

        if not args.target:
            raise InputError("--target is required with a DATA file")
        df = read_csv(args.data)
        if args.target not in df.columns:
            raise InputError(f"target column {args.target!r} not found in {args.data}")
        model_kind = args.model or _guess_model(df[args.target])
        pre = TabularPreprocessor(
            args.target, categorical=args.categorical, scale_target=model_kind == "linear"
        )
        X, y = pre.fit_transform(df)
        what = f"{args.data}, target {args.target!r}"
    else:
        from xpgd.datasets import load_iris

        iris = load_iris(binary=True)
        X, y, model_kind, what = iris.X, iris.y, "logistic", "iris, setosa vs rest"
    cls = xpgd.LinearRegression if model_kind == "linear" else xpgd.LogisticRegression
    estimator = cls(max_iter=args.max_iter, tol=None if args.fixed else 1e-6)
    backends = args.backends.split(",") if args.backends else None
    print(f"{cls.__name__} on {what}: {X.shape[0]} x {X.shape[1]}; reference NumPy float64")
    rows = compare_backends(estimator, X, y, backends)
    print(format_agreement(rows))
    failed = [r for r in rows if r.error]
    return 1 if failed else 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``xpgd`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="xpgd",
        description="Linear and logistic regression by gradient descent on any "
        "Array API backend (NumPy, CuPy, torch, Dask, array-api-strict).",
    )
    parser.add_argument("--version", action="version", version=f"xpgd {xpgd.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def backend_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--backend",
            default=None,
            help="numpy, cupy, torch, array_api_strict, dask or auto "
            "(default: XPGD_BACKEND or auto)",
        )
        p.add_argument("--device", default=None, help="a device of that backend")

    demo = sub.add_parser("demo", help="the classic iris and regression experiments")
    backend_options(demo)
    demo.add_argument("--out", default="xpgd-output", help="folder for the plots")
    demo.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit", help="fit a CSV or Parquet file: metrics on a held-out split, plots, model"
    )
    fit.add_argument(
        "data",
        help="a .csv or .parquet file (the suffix tells the format); with --backend dask "
        "or --scheduler it is read through Dask, in blocks, never whole",
    )
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument(
        "--model",
        choices=["linear", "logistic"],
        help="default: linear for a numeric target with > 2 values",
    )
    fit.add_argument(
        "--categorical",
        nargs="+",
        action="extend",
        default=None,
        metavar="COLUMN",
        help="numeric columns to one-hot encode too (text columns always are)",
    )
    fit.add_argument("--drop", nargs="+", action="extend", default=None, metavar="COLUMN")
    fit.add_argument(
        "--derive",
        action="append",
        metavar="NAME=EXPR",
        help="a derived column, e.g. 'Age=2020 - Year' (repeatable)",
    )
    backend_options(fit)
    fit.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="fit on an existing dask.distributed cluster (e.g. tcp://127.0.0.1:8786); "
        "implies --backend dask",
    )
    fit.add_argument(
        "--blocksize",
        default=None,
        metavar="SIZE",
        help="with Dask: bytes per partition of the file, e.g. 64MB (default: Dask's)",
    )
    fit.add_argument("--out", default="xpgd-output", help="folder for plots and model.npz")
    fit.add_argument("--test-size", type=float, default=0.2)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--classic",
        action="store_true",
        help="fit the preprocessing on all rows before splitting, as the "
        "classic exercise did (leaks test statistics; for reproduction only)",
    )
    fit.add_argument(
        "--solver",
        default="auto",
        choices=["auto", "normal", *SOLVERS],  # the estimators' registry
        help="auto: lbfgs for logistic, the normal equations for linear (see the README)",
    )
    fit.add_argument(
        "--penalty",
        choices=["none", "l2", "l1", "elasticnet"],
        default=None,
        help="default: l2 for logistic, none for linear (l2 when --alpha is given)",
    )
    fit.add_argument("--l1-ratio", type=float, default=0.15, help="L1 share of elasticnet")
    fit.add_argument("--learning-rate", type=_learning_rate, default="auto")
    fit.add_argument("--max-iter", type=int, default=1000)
    fit.add_argument("--alpha", type=float, default=None, help="L2 penalty strength")
    fit.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal, for fits over 0.5 s)",
    )
    fit.set_defaults(func=_fit)

    bench = sub.add_parser("bench", help="speed against the memory-bandwidth floor and peers")
    from xpgd.bench import add_arguments, run

    add_arguments(bench)
    bench.set_defaults(func=lambda args: run(args) or 0)

    backends = sub.add_parser("backends", help="installed backends, versions, devices")
    backends.set_defaults(func=_backends)

    compare = sub.add_parser(
        "compare", help="fit on every backend and device; compare with NumPy float64"
    )
    compare.add_argument("data", nargs="?", help="CSV file (default: iris, setosa vs rest)")
    compare.add_argument("--target")
    compare.add_argument("--model", choices=["linear", "logistic"])
    compare.add_argument(
        "--categorical", nargs="+", action="extend", default=None, metavar="COLUMN"
    )
    compare.add_argument("--backends", help="comma-separated names (default: all available)")
    compare.add_argument("--max-iter", type=int, default=1000)
    compare.add_argument(
        "--fixed",
        action="store_true",
        help="run exactly --max-iter iterations everywhere (tol=None)",
    )
    compare.set_defaults(func=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xpgd`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("xpgd: interrupted", file=sys.stderr)
        return 130
    except XpgdError as exc:  # bad input: one line, the fix in it
        if os.environ.get("XPGD_DEBUG"):
            raise
        print(f"xpgd: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours, not the user's input: say so
        if os.environ.get("XPGD_DEBUG"):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(
            f"xpgd: internal error: {type(exc).__name__}: {message} (please report it; "
            "XPGD_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
