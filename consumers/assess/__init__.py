"""Assessment: from one report to every affected customer, audience and legal clock."""
