"""The CTCVR reward model (paper 3.3.3): sentence embeddings into a Shared-Bottom multi-task net
predicting CTR and CTCVR over the entire impression space (ESMM)."""
