"""The composition root: the CLI and the wiring of web, workers and storage for each run mode.

It is the one package allowed to import every layer, and nothing imports it back.
"""
