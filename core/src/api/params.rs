//! Query parameters of resource requests (upstream's ListOptions, CreateOptions,
//! PatchOptions, DeleteOptions query forms), parsed from already percent-decoded pairs.

use crate::status::ApiError;

/// fieldValidation=Strict|Warn|Ignore. Upstream's default for requests without the
/// parameter is Warn; kubectl sends Strict by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

/// `resourceVersionMatch` of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    NotOlderThan,
    Exact,
}

/// Every query parameter a resource request may carry; each verb reads what it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub watch: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<RvMatch>,
    pub limit: Option<u64>,
    pub continue_token: Option<String>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout_seconds: Option<u64>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub pretty: bool,
}

fn bool_param(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid boolean value {value:?} for {name}"
        ))),
    }
}

fn u64_param(name: &str, value: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid value {value:?} for {name}: must be a non-negative integer"
        ))
    })
}

impl Params {
    /// Parses decoded query pairs. Unknown parameters are ignored, as upstream does.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Params, ApiError> {
        let mut p = Params::default();
        for (key, value) in pairs {
            match key {
                "watch" => p.watch = bool_param(key, value)?,
                "labelSelector" => {
                    p.label_selector = Some(value.to_owned()).filter(|s| !s.is_empty())
                }
                "fieldSelector" => {
                    p.field_selector = Some(value.to_owned()).filter(|s| !s.is_empty())
                }
                "resourceVersion" => {
                    p.resource_version = Some(value.to_owned()).filter(|s| !s.is_empty())
                }
                "resourceVersionMatch" => {
                    p.resource_version_match = match value {
                        "" => None,
                        "NotOlderThan" => Some(RvMatch::NotOlderThan),
                        "Exact" => Some(RvMatch::Exact),
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "unsupported resourceVersionMatch {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                            )));
                        }
                    }
                }
                "limit" => p.limit = Some(u64_param(key, value)?).filter(|l| *l > 0),
                "continue" => p.continue_token = Some(value.to_owned()).filter(|s| !s.is_empty()),
                "allowWatchBookmarks" => p.allow_watch_bookmarks = bool_param(key, value)?,
                "sendInitialEvents" => p.send_initial_events = bool_param(key, value)?,
                "timeoutSeconds" => p.timeout_seconds = Some(u64_param(key, value)?),
                "dryRun" => match value {
                    "All" => p.dry_run = true,
                    "" => {}
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid dry run value: {other:?}: supported values: \"All\""
                        )));
                    }
                },
                "fieldManager" => {
                    p.field_manager = Some(value.to_owned()).filter(|s| !s.is_empty())
                }
                "fieldValidation" => {
                    p.field_validation = match value {
                        "Strict" => FieldValidation::Strict,
                        "Warn" | "" => FieldValidation::Warn,
                        "Ignore" => FieldValidation::Ignore,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "fieldValidation parameter {other:?}: must be one of Strict, Warn, Ignore"
                            )));
                        }
                    }
                }
                "force" => p.force = bool_param(key, value)?,
                "propagationPolicy" => {
                    p.propagation_policy = Some(value.to_owned()).filter(|s| !s.is_empty())
                }
                "gracePeriodSeconds" => {
                    p.grace_period_seconds = Some(value.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "invalid value {value:?} for gracePeriodSeconds"
                        ))
                    })?)
                }
                "pretty" => p.pretty = bool_param(key, value)?,
                _ => {}
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_kubectl_sends() {
        let p = Params::parse([
            ("limit", "500"),
            ("labelSelector", "app=web"),
            ("fieldValidation", "Strict"),
            ("fieldManager", "kubectl-client-side-apply"),
            ("watch", "true"),
            ("resourceVersion", "0"),
            ("timeoutSeconds", "300"),
            ("allowWatchBookmarks", "true"),
            ("dryRun", "All"),
        ])
        .unwrap();
        assert_eq!(p.limit, Some(500));
        assert_eq!(p.label_selector.as_deref(), Some("app=web"));
        assert_eq!(p.field_validation, FieldValidation::Strict);
        assert!(p.watch && p.allow_watch_bookmarks && p.dry_run);
        assert_eq!(p.resource_version.as_deref(), Some("0"));
        assert_eq!(p.timeout_seconds, Some(300));
    }

    #[test]
    fn bad_values_are_400() {
        for (k, v) in [
            ("limit", "-1"),
            ("watch", "yes"),
            ("dryRun", "Some"),
            ("fieldValidation", "Loud"),
            ("resourceVersionMatch", "Newer"),
        ] {
            let e = Params::parse([(k, v)]).unwrap_err();
            assert_eq!(e.code, 400, "{k}={v}");
        }
    }

    #[test]
    fn zero_limit_means_no_limit() {
        assert_eq!(Params::parse([("limit", "0")]).unwrap().limit, None);
    }
}
