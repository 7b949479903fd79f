"""Looking inside a model without intervening: head scans and memory probes.

========================  ===================================================================
module                    contents
========================  ===================================================================
``head_scan``             :func:`head_scan`: induction and previous-token scores of every head
``probes``                :func:`memory_probes`: recall of the simplified model's memories
========================  ===================================================================
"""
