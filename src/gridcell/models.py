"""Imports every capability's ORM models so metadata is complete (migrations, create_all)."""

from gridcell.exposure import models as exposure_models
from gridcell.faults import models as faults_models
from gridcell.tenancy import models as tenancy_models
from gridcell.topology import models as topology_models

__all__ = ["exposure_models", "faults_models", "tenancy_models", "topology_models"]
