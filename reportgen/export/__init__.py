"""Exporters: the results store → TensorBoard runs, MLflow runs, and paste-ready tables.

Every exporter reads the store through :mod:`records` only, so the store's file layout is known in
one place here. ``--tables`` and ``--mlflow`` never import torch; TensorBoard's writer comes from
``torch.utils.tensorboard`` (no TensorFlow needed).
"""
