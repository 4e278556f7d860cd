"""Fitted models -> one ONNX graph (distill side; the documented import path of
:mod:`scoring_explainers.distill`'s conversion, kept)."""

from .distill import ConvertedModel, check_agreement, preprocessing_to_onnx, to_onnx

__all__ = ["ConvertedModel", "check_agreement", "preprocessing_to_onnx", "to_onnx"]
