"""The record consumer: keeps the ledger's account of incidents, assessments and requested notices."""
