"""Imports every capability's ORM models so metadata is complete (migrations, create_all)."""

from gridcell.core import health as health_models
from gridcell.core import leases as cluster_models
from gridcell.exposure import models as exposure_models
from gridcell.failover import models as failover_models
from gridcell.faults import models as faults_models
from gridcell.feeds import models as feeds_models
from gridcell.incidents import models as incidents_models
from gridcell.outages import models as outages_models
from gridcell.problems import models as problems_models
from gridcell.telemetry import models as telemetry_models
from gridcell.tenancy import models as tenancy_models
from gridcell.topology import models as topology_models
from gridcell.web import models as web_models

__all__ = [
           "cluster_models",
           "exposure_models",
           "failover_models",
           "faults_models",
           "feeds_models",
           "health_models",
           "incidents_models",
           "outages_models",
           "problems_models",
           "telemetry_models",
           "tenancy_models",
           "topology_models",
           "web_models",
]
