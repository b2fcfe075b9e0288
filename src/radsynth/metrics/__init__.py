"""Evaluation metrics: a reference image classifier (judge of generated images) and ROC tools."""

from radsynth.metrics.classifier import (
    ClassifierConfig,
    ReferenceClassifier,
    TrainReport,
    build_classifier,
    load_shipped,
    shipped_models,
    train_classifier,
)
from radsynth.metrics.encoder import EncoderConfig, FeatureEncoder, load_encoder, shipped_encoders
from radsynth.metrics.roc import balanced_threshold, bootstrap_auc_ci, per_class_accuracy, roc_auc

__all__ = [
    "ClassifierConfig",
    "EncoderConfig",
    "FeatureEncoder",
    "ReferenceClassifier",
    "TrainReport",
    "balanced_threshold",
    "bootstrap_auc_ci",
    "build_classifier",
    "load_encoder",
    "load_shipped",
    "per_class_accuracy",
    "roc_auc",
    "shipped_encoders",
    "shipped_models",
    "train_classifier",
]
