"""Digital twin: a grid and two mobile networks over a (virtual) year, current practice vs gridcell.

The gridcell policy drives the product's own services (faults ingest, exposure status, failover advisor,
incidents attribution, outage coordination) with a ManualClock; the simulator only plays the world around
them (RAN sites, CPEs, the grid, crews) and measures. See docs/sim.md.
"""
