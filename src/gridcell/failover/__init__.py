"""Failover advisor for multi-USIM CPEs: status + probes → commands over MQTT and webhooks."""
