"""Evaluation results on disk and what is computed from them without torch (DESIGN §10).

The evaluator (``ml/evaluate.py``, a worker job) writes ``experiments/<id>/evaluation/``; the
Evaluation page, the report and prediction read it through this package, and recompute every
number that depends on the operating point from the cached scores in numpy, instantly.
"""
