"""Energy outage coordination (3GPP TR 28.829 clause 6.3, TS 28.318 DSO NRM): OutageAndRecoveryInfo and
DsoThresholdMonitor via ProvMnS, the DSO grid model, RAN site power and the coordination plan."""
