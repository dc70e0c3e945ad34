"""Moved to :mod:`sentinel.nlp.scoring` (classification is the nlp package's; "score" means
risk). This alias keeps older scripts working (bench/realsuite.py imports it)."""

from sentinel.nlp.scoring import Scorer, TextCache, load_classifier, resighted

__all__ = ["Scorer", "TextCache", "load_classifier", "resighted"]
