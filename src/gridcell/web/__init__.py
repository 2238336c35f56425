"""The operator dashboard: server-rendered pages for the DSO operations centre and the MNO service desk."""
