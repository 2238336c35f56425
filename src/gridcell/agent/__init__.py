"""gridcell agent: the software on a DSO's multi-SIM router that executes the exchange's failover commands,
probes each PLMN's path itself and falls back to mwan3-like switching on its own probes when the exchange is
out of reach. Standard library plus aiomqtt and a driver's own library (pyroute2, dbus-fast): it imports
nothing else of gridcell, so it installs on a router as the `agent` extra."""
