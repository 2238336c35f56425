"""Problems between DSO and MNO: TMF656 service problems and trend proposals."""
