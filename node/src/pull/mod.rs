//! Registry pulls over the OCI distribution API (filled in by the registry work).
