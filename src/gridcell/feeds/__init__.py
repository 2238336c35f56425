"""MNO feeds: gridcell as a TS 28.532 Fault MnS consumer of an MNO's producer (subscribe, supervise, reconcile),
and supervision of the feeds an MNO pushes itself, so that silence is seen rather than taken for 'ok'."""
