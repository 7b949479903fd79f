"""Looking inside a model: head scans, memory probes, attribution patching (gradients, not interventions).

========================  ===================================================================
module                    contents
========================  ===================================================================
``head_scan``             :func:`head_scan`: induction and previous-token scores of every head
``probes``                :func:`memory_probes`: recall of the simplified model's memories
``attribution``           :func:`attribution_patching`: every head's effect from one backward pass
========================  ===================================================================
"""
