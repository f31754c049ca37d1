"""Business rules. Services take a TenantSession, flush and never commit, raise domain errors."""
