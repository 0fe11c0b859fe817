"""Realism study (seed 000's 1-10 ratings, seed 002's timed which-is-real pairs): build, store, report."""
