//! The OCI runtime: bundles from the pod spec, cgroups, runc and crun (filled in by the runtime work).
