"""Django's PostgreSQL backend for a database whose password RDS rotates (the deployed site)."""
