"""Reports render correctly from several threads at once, as agents render them.

pyplot keeps one current figure per process, so two threads drawing through it can draw
into each other's charts. Each chart here must come out byte for byte as it does when
drawn alone, and the report modules must not import pyplot at all.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image

from millrace.ml.explain.explain import Explanation
from millrace.ml.explain.forecast import ForecastExplanation
from millrace.ml.explain.forecast_render import render_forecast_reports
from millrace.ml.explain.render import render_reports
from millrace.ml.fairness.report import build_bias_report, render_bias_html

THREADS = 4
REPORT_MODULES = [
    "millrace.ml.html",
    "millrace.ml.explain.render",
    "millrace.ml.explain.forecast_render",
    "millrace.ml.fairness.report",
    "millrace.agents.bias",
    "millrace.agents.xai",
]
_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n).round(2),
            "sex": rng.choice(["f", "m"], n),
            "bmi": rng.normal(26, 4, n).round(1),
        }
    )
    frame["label"] = ((frame["income"] > 50_000) ^ (rng.random(n) < 0.2)).astype(int)
    return frame


def _tabular(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    features = ["age", "income", "bmi"]
    sample = frame[features].head(80)
    shap_values = np.random.default_rng(1).normal(0, 1, (len(sample), len(features)))
    exp = Explanation(
        explainer="TreeExplainer",
        features=features,
        mean_abs_shap={f: float(np.abs(shap_values[:, i]).mean()) for i, f in enumerate(features)},
        permutation={f: {"mean": 0.1 * i, "std": 0.01} for i, f in enumerate(features)},
        shap_values=shap_values,
        sample=sample,
        scoring="roc_auc",
    )
    return render_reports(
        exp=exp,
        frame=frame.drop(columns="sex"),
        target="label",
        task="classification",
        model_info={"algorithm": "lgbm", "test_scores": {"roc_auc": 0.81}},
        title="threads",
    )


def _forecast() -> dict[tuple[str, str], str]:
    ds = pd.date_range("2024-01-01", periods=96, freq="h")
    t = np.arange(len(ds))
    exp = ForecastExplanation(
        model="prophet",
        lags={k: 1.0 / k for k in range(1, 13)},
        features={"temp": 0.3},
        components=pd.DataFrame({"ds": ds, "trend": t * 0.01, "daily": np.sin(2 * np.pi * t / 24)}),
        autocorrelation={k: 0.9**k for k in range(1, 25)},
        profile={str(h): float(np.sin(h)) for h in range(24)},
        profile_by="hour",
        origins=20,
    )
    info = {"config": {"horizon": 24}, "test_scores": {"mae": 1.2}, "leaderboard": []}
    return render_forecast_reports(exp=exp, info=info, title="threads", target="load")


def _bias(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    report = build_bias_report(frame, "label", "classification", ["sex"])
    return {("bias", "html"): render_bias_html(report, "threads")}


def _charts(pages: dict[tuple[str, str], str]) -> list[bytes]:
    return [base64.b64decode(m) for html in pages.values() for m in _PNG.findall(html)]


def test_reports_render_the_same_from_four_threads_at_once() -> None:
    frame = _frame()
    renderers: list[Callable[[], dict[tuple[str, str], str]]] = [
        lambda: _tabular(frame),
        _forecast,
        lambda: _bias(frame),
    ]
    alone = [_charts(render()) for render in renderers]
    assert all(alone) and sum(map(len, alone)) >= 6

    jobs = [i % len(renderers) for i in range(THREADS * 3)]
    barrier = threading.Barrier(THREADS)

    def run(job: int) -> tuple[int, list[bytes]]:
        if job < THREADS:
            barrier.wait(timeout=30)  # the first round starts together
        return job % len(renderers), _charts(renderers[job % len(renderers)]())

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(run, range(len(jobs))))
    for kind, charts in results:
        assert charts == alone[kind]
        for png in charts:
            with Image.open(io.BytesIO(png)) as image:
                image.verify()
                assert image.format == "PNG"


def test_report_modules_do_not_import_pyplot() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {REPORT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
