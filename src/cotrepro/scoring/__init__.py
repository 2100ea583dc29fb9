"""Scoring stage: answer extraction in two styles, score rows, accuracy with intervals, paired tests."""
