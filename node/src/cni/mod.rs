//! CNI: running the plugins for a pod network namespace (filled in by the CNI work).
