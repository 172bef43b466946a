"""The reconcile core: the context of a pass, the outcome vocabulary, the reconciler and its work
queue, the protocols every kind shares, trackers, Events and leader election."""
