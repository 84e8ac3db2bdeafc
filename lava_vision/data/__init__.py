"""Dataset readers, paired transforms and procedurally generated data for every task."""
