"""Customers: one profile per real customer across the POS, the ERPs, the CRM and loyalty."""
