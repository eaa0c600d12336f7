"""Metrics: feature extractors, cached real statistics, FID/KID/IS (torchmetrics), toy 2D mode metrics, the callback.

Numbers are only comparable under the same protocol id (gan.metrics.protocol): extractor and weights hash, number of
fake samples, reference data.
"""
