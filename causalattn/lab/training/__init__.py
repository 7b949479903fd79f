"""Training the lab's transformers, and training studies with seeds as units.

========================  ===================================================================
module                    contents
========================  ===================================================================
``loop``                  :class:`TrainConfig`, :class:`Freeze`, :func:`train`, checkpoints
``muon``                  :class:`Float32Muon`: Muon with a float32 Newton-Schulz iteration
``study``                 :func:`training_study`: freezing schedules as treatments, seeds as units
========================  ===================================================================
"""
