"""Training the lab's transformers, and training studies with seeds as units.

========================  ===================================================================
module                    contents
========================  ===================================================================
``config``                :class:`TrainConfig` (the recipe), :class:`Freeze` (freezing schedules)
``loop``                  :func:`train`: the training loop
``checkpoints``           the checkpoint format: saving, loading, resuming
``optimizers``            the optimizers of a recipe (AdamW, SGD, Muon with AdamW for the rest)
``muon``                  :class:`Float32Muon`: Muon with a float32 Newton-Schulz iteration
``study``                 :func:`training_study`: freezing schedules as treatments, seeds as units
``segments``              a training run as a job on a worker, whole or in segments (Dask)
``units``                 the run files of a training study (records, weights, checkpoints)
``results``               :class:`TrainingStudy`: its runs, effects and curves
``threshold``             iterations to a threshold: restricted means, Kaplan-Meier curves, log-rank tests
========================  ===================================================================
"""
