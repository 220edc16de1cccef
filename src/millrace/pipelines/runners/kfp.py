"""The pipeline on Kubeflow Pipelines: lightweight components around Millrace's steps.

``preprocess -> train (one task per candidate, in parallel) -> evaluate -> infer``, with
artifacts passed as KFP ``Dataset``, ``Model`` and ``Metrics``. Each component's body
imports ``millrace.pipelines.runners.kfp_ops`` and calls the same step code as the local
runner. The image (``millrace:latest`` from the repo's Dockerfile, or ``compile --image``)
has Millrace and the kfp SDK installed, so components never pip-install kfp at run time
(an offline cluster could not).

No ``from __future__ import annotations``: the KFP SDK reads these annotations at
runtime to type the components' inputs and outputs.
"""

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from millrace.exceptions import ConfigError
from millrace.pipelines.runners.local import DEFAULT_MODELS

try:
    from kfp import compiler, dsl
    from kfp.dsl import Dataset, Input, Metrics, Model, Output
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError("KFP support needs the kfp package: pip install 'millrace[kfp]'") from exc

__all__ = ["CANDIDATES", "build_pipeline", "compile_pipeline", "submit"]

IMAGE = "millrace:latest"
CANDIDATES = DEFAULT_MODELS


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def preprocess_op(
    data_uri: str, test_uri: str, config_json: str, prepared: Output[Dataset]
) -> None:
    from millrace.pipelines.runners.kfp_ops import preprocess_into

    preprocess_into(data_uri, test_uri, config_json, prepared.path)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_op(
    prepared: Input[Dataset],
    model_name: str,
    seed: int,
    model: Output[Model],
    budget_s: float = 0.0,
    tracking_uri: str = "",
) -> None:
    from millrace.pipelines.runners.kfp_ops import train_into

    train_into(prepared.path, model_name, seed, model.path, budget_s, tracking_uri)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_op(
    prepared: Input[Dataset],
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    naive: Input[Model] = None,
    seasonal_naive: Input[Model] = None,
    ets: Input[Model] = None,
    theta: Input[Model] = None,
    arima: Input[Model] = None,
    dot: Input[Model] = None,
    prophet: Input[Model] = None,
    gru: Input[Model] = None,
    lstm: Input[Model] = None,
    lightgbm: Input[Model] = None,
    tracking_uri: str = "",
) -> str:
    from millrace.pipelines.runners.kfp_ops import evaluate_into

    models = [naive, seasonal_naive, ets, theta, arima, dot, prophet, gru, lstm, lightgbm]
    paths = [m.path if m else None for m in models]
    scores = evaluate_into(prepared.path, paths, evaluation.path, tracking_uri)
    for key, value in scores.items():
        metrics.log_metric(key, value)
    import json as _json

    return str(_json.loads(open(evaluation.path + "/artifact.json").read())["champion"])


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def infer_op(
    prepared: Input[Dataset],
    evaluation: Input[Dataset],
    forecasts: Output[Dataset],
    naive: Input[Model] = None,
    seasonal_naive: Input[Model] = None,
    ets: Input[Model] = None,
    theta: Input[Model] = None,
    arima: Input[Model] = None,
    dot: Input[Model] = None,
    prophet: Input[Model] = None,
    gru: Input[Model] = None,
    lstm: Input[Model] = None,
    lightgbm: Input[Model] = None,
) -> int:
    from millrace.pipelines.runners.kfp_ops import infer_into

    models = [naive, seasonal_naive, ets, theta, arima, dot, prophet, gru, lstm, lightgbm]
    return infer_into(
        prepared.path, evaluation.path, [m.path if m else None for m in models], forecasts.path
    )


def build_pipeline(models: Sequence[str] = CANDIDATES) -> Callable[..., Any]:
    unknown = [m for m in models if m not in CANDIDATES]
    if unknown:
        raise ConfigError(f"unknown models {unknown}; choose from {', '.join(CANDIDATES)}")

    @dsl.pipeline(
        name="millrace-forecasting",
        description="preprocess -> train candidates -> evaluate -> infer",
    )
    def forecasting(
        data_uri: str,
        config_json: str,
        test_uri: str = "",
        seed: int = 0,
        budget_s: float = 0.0,
        tracking_uri: str = "",
    ) -> str:
        prep = preprocess_op(data_uri=data_uri, test_uri=test_uri, config_json=config_json)
        trained = {
            m: train_op(
                prepared=prep.outputs["prepared"],
                model_name=m,
                seed=seed,
                budget_s=budget_s,
                tracking_uri=tracking_uri,
            ).set_display_name(f"train-{m}")
            for m in models
        }
        inputs = {m: t.outputs["model"] for m, t in trained.items()}
        ev = evaluate_op(prepared=prep.outputs["prepared"], tracking_uri=tracking_uri, **inputs)
        infer_op(prepared=prep.outputs["prepared"], evaluation=ev.outputs["evaluation"], **inputs)
        return ev.outputs["Output"]

    return forecasting


def compile_pipeline(output: Path, models: Sequence[str] = CANDIDATES, image: str = IMAGE) -> Path:
    """Compile, with every component running in ``image`` (e.g. one pushed to a registry)."""
    compiler.Compiler().compile(build_pipeline(models), str(output))
    if image != IMAGE:
        import yaml

        spec = yaml.safe_load(output.read_text())
        for executor in spec["deploymentSpec"]["executors"].values():
            executor["container"]["image"] = image
        output.write_text(yaml.safe_dump(spec, sort_keys=False))
    return output


def submit(package: Path, host: str, arguments: dict[str, Any]) -> str:
    """Send a compiled pipeline to a KFP endpoint; returns the run id."""
    from kfp import Client

    try:
        run = Client(host=host).create_run_from_pipeline_package(
            str(package),
            arguments={
                k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in arguments.items()
            },
        )
    except Exception as exc:  # the client raises many transport types
        raise ConfigError(f"cannot submit to KFP at {host}: {exc}") from exc
    return str(run.run_id)
