"""DSO sites, CPEs and USIMs; MNO RAN sites and cells; which cell serves which USIM."""
