"""Deployment: prediction from a run folder, model export and the HTTP prediction service.

Import the submodules you need (``headstart.export.serve``, ``headstart.export.predictor``);
this package imports nothing itself so that ``import headstart.export`` stays cheap.
"""
