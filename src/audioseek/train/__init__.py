"""Training: losses, freezing policies, Lightning module/data, feature cache, runner.

Import the submodules directly (``audioseek.train.run.run_training``); this package
imports nothing heavy.
"""
