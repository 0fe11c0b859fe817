"""Evaluation: per-image metrics, hole-ratio buckets and the bucketed harness behind ``unmask evaluate``."""
