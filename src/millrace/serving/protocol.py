"""Request and response bodies: Open Inference Protocol v2, and the simpler JSON forms.

The OIP shapes follow the KServe / Triton "V2" REST spec (``InferenceRequest``,
``InferenceResponse``, model metadata). A tabular model takes one input tensor per column;
a forecaster takes its time column and value columns as tensors and
``parameters.inference_length``.

Numbers are strict: JSON ``true`` is not 1, nor ``6.0`` a length of six.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "ModelMetadata",
    "PredictRequest",
    "RequestInput",
    "ResponseOutput",
    "SeedPredictRequest",
]

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class RequestInput(BaseModel):
    name: str
    shape: list[Annotated[StrictInt, Field(ge=0)]] = Field(min_length=1, max_length=2)
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Millrace extension: the live version, kind, registered name, load time",
    )


class PredictRequest(BaseModel):
    """Rows as ``records`` (a list of objects) or ``columns`` (name -> list); for a
    forecaster, the history as ``data`` with ``index_col`` and ``inference_length``."""

    model_config = ConfigDict(extra="forbid")

    records: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None
    proba: bool = Field(default=False, description="Also return class probabilities")
    data: list[dict[str, Any]] | dict[str, list[Any]] | None = None
    index_col: str | None = None
    inference_length: StrictInt | None = Field(default=None, ge=1)


class SeedPredictRequest(BaseModel):
    """Seed 000's forecasting request."""

    inference_length: StrictInt | None = Field(
        default=None, ge=1, description="Default: the horizon"
    )
    data: list[dict[str, Any]] | dict[str, list[Any]]
    index_col: str | None = Field(default=None, description="Default: the training time column")
    model: str | None = Field(
        default=None, description="Model id; optional when you have one forecasting model"
    )
