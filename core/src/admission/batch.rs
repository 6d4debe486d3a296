//! batch/v1 Job and CronJob: upstream's defaults (batch/v1 defaults.go), the selector and
//! labels a new Job gets from its uid (`generateSelector` in the Job strategy), and the
//! checks that matter: restart policy, non-negative counts, a valid schedule.

use miniserde::json::{Object, Value};

use super::fields::{
    ensure_child, go_label_selector, go_quote, int_default, obj_mut, set_default, str_default,
    string,
};
use super::workloads::non_negative;
use super::{Context, Operation, cron, object_meta, pod_spec};
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::status::{Cause, field};

const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

pub fn default_job(ctx: &Context<'_>, job: &mut Value) {
    pod_spec::default_spec(job, &["spec", "template", "spec"]);
    let Some(spec) = obj_mut(job, &["spec"]) else {
        return;
    };
    if super::fields::unset(spec, "completions") && super::fields::unset(spec, "parallelism") {
        int_default(spec, "completions", 1);
    }
    int_default(spec, "parallelism", 1);
    let per_index = !super::fields::unset(spec, "backoffLimitPerIndex");
    int_default(
        spec,
        "backoffLimit",
        if per_index { i64::from(i32::MAX) } else { 6 },
    );
    str_default(spec, "completionMode", "NonIndexed");
    set_default(spec, "suspend", Value::Bool(false));
    let replacement = if super::fields::unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    str_default(spec, "podReplacementPolicy", replacement);
    let manual = matches!(spec.get("manualSelector"), Some(Value::Bool(true)));
    if ctx.operation == Operation::Create && !manual && super::fields::unset(spec, "selector") {
        generate_selector(job);
    }
}

/// The selector and template labels upstream derives from the Job's uid and name.
fn generate_selector(job: &mut Value) {
    let uid = meta::uid(job).unwrap_or("").to_owned();
    let name = meta::name(job).unwrap_or("").to_owned();
    let Some(spec) = obj_mut(job, &["spec"]) else {
        return;
    };
    let mut match_labels = Object::new();
    match_labels.insert(CONTROLLER_UID.to_owned(), string(&uid));
    let selector = ensure_child(spec, "selector");
    selector.insert("matchLabels".to_owned(), Value::Object(match_labels));
    let labels = ensure_child(
        ensure_child(ensure_child(spec, "template"), "metadata"),
        "labels",
    );
    for (k, v) in [
        ("controller-uid", &uid),
        (CONTROLLER_UID, &uid),
        ("job-name", &name),
        (JOB_NAME, &name),
    ] {
        labels.insert(k.to_owned(), string(v));
    }
}

pub fn validate_job(ctx: &Context<'_>, job: &Value, causes: &mut Vec<Cause>) {
    if ctx.subresource == Some("status") {
        return;
    }
    for key in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        non_negative(job, &["spec", key], &format!("spec.{key}"), causes);
    }
    let mode = meta::get_str(job, &["spec", "completionMode"]).unwrap_or("");
    if !["NonIndexed", "Indexed"].contains(&mode) {
        causes.push(field::not_supported(
            "spec.completionMode",
            &go_quote(mode),
            &["NonIndexed", "Indexed"],
        ));
    }
    if mode == "Indexed" && meta::get_path(job, &["spec", "completions"]).is_none() {
        causes.push(field::required_because(
            "spec.completions",
            "when completion mode is Indexed",
        ));
    }
    let restart = meta::get_str(job, &["spec", "template", "spec", "restartPolicy"]);
    if meta::get_path(job, &["spec", "podFailurePolicy"]).is_some()
        && restart.is_some_and(|r| r != "Never")
    {
        causes.push(field::invalid(
            "spec.template.spec.restartPolicy",
            &go_quote(restart.unwrap_or("")),
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    validate_template(job, &["spec", "template"], "spec.template", causes);
    if let Some(old) = ctx.old {
        let (new_sel, old_sel) = (
            meta::get_path(job, &["spec", "selector"]),
            meta::get_path(old, &["spec", "selector"]),
        );
        if !matches!((new_sel, old_sel), (Some(a), Some(b)) if values_equal(a, b)) {
            causes.push(field::immutable(
                "spec.selector",
                &go_label_selector(new_sel),
            ));
        }
    }
}

/// A job's pod template: metadata, PodSpec, and a restart policy of OnFailure or Never.
fn validate_template(object: &Value, path: &[&str], prefix: &str, causes: &mut Vec<Cause>) {
    let mut md: Vec<&str> = path.to_vec();
    md.push("metadata");
    object_meta::validate(object, &md, &format!("{prefix}.metadata"), causes);
    let mut spec: Vec<&str> = path.to_vec();
    spec.push("spec");
    pod_spec::validate_spec(object, &spec, &format!("{prefix}.spec"), causes);
    spec.push("restartPolicy");
    let restart = meta::get_str(object, &spec).unwrap_or("");
    if !["OnFailure", "Never"].contains(&restart) {
        causes.push(field::not_supported(
            &format!("{prefix}.spec.restartPolicy"),
            &go_quote(restart),
            &["OnFailure", "Never"],
        ));
    }
}

pub fn default_cronjob(cronjob: &mut Value) {
    pod_spec::default_spec(
        cronjob,
        &["spec", "jobTemplate", "spec", "template", "spec"],
    );
    let Some(spec) = obj_mut(cronjob, &["spec"]) else {
        return;
    };
    str_default(spec, "concurrencyPolicy", "Allow");
    set_default(spec, "suspend", Value::Bool(false));
    int_default(spec, "successfulJobsHistoryLimit", 3);
    int_default(spec, "failedJobsHistoryLimit", 1);
}

pub fn validate_cronjob(ctx: &Context<'_>, cronjob: &Value, causes: &mut Vec<Cause>) {
    if ctx.subresource == Some("status") {
        return;
    }
    match meta::get_str(cronjob, &["spec", "schedule"]).unwrap_or("") {
        "" => causes.push(field::required("spec.schedule")),
        s if s.contains("TZ") => causes.push(field::invalid(
            "spec.schedule",
            &go_quote(s),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        )),
        s => {
            if let Err(e) = cron::validate(s) {
                causes.push(field::invalid("spec.schedule", &go_quote(s), &e));
            }
        }
    }
    if let Some(Err(e)) = meta::get_str(cronjob, &["spec", "timeZone"])
        .map(crate::workloads::cronjob::zone::check_name)
    {
        let value = meta::get_str(cronjob, &["spec", "timeZone"]).unwrap_or("");
        causes.push(field::invalid("spec.timeZone", &go_quote(value), &e));
    }
    let policy = meta::get_str(cronjob, &["spec", "concurrencyPolicy"]).unwrap_or("");
    if !["Allow", "Forbid", "Replace"].contains(&policy) {
        causes.push(field::not_supported(
            "spec.concurrencyPolicy",
            &go_quote(policy),
            &["Allow", "Forbid", "Replace"],
        ));
    }
    for key in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        non_negative(cronjob, &["spec", key], &format!("spec.{key}"), causes);
    }
    validate_template(
        cronjob,
        &["spec", "jobTemplate", "spec", "template"],
        "spec.jobTemplate.spec.template",
        causes,
    );
}

/// The tz-database half of upstream's validateTimeZone (`time.LoadLocation`): a zone that
/// passes the name checks must exist in the host's database. Async: the file is read off
/// the executor thread.
pub async fn validate_cronjob_zone(cronjob: &Value, causes: &mut Vec<Cause>) {
    let Some(name) = meta::get_str(cronjob, &["spec", "timeZone"]) else {
        return;
    };
    if crate::workloads::cronjob::zone::check_name(name).is_err() {
        return;
    }
    if let Err(e) = crate::workloads::cronjob::zone::load(name).await {
        causes.push(field::invalid("spec.timeZone", &go_quote(name), &e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::tests::{context, parse};

    #[test]
    fn job_defaults_and_generated_selector() {
        let mut job = parse(
            r#"{"metadata":{"name":"pi","uid":"u-1"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"perl"}]}}}}"#,
        );
        let mut causes = Vec::new();
        context(Operation::Create, None, |ctx| {
            default_job(ctx, &mut job);
            validate_job(ctx, &job, &mut causes);
        });
        assert!(causes.is_empty(), "{causes:?}");
        for (k, v) in [("completions", 1), ("parallelism", 1), ("backoffLimit", 6)] {
            assert_eq!(meta::get_i64(&job, &["spec", k]), Some(v), "{k}");
        }
        assert_eq!(
            meta::get_str(&job, &["spec", "completionMode"]),
            Some("NonIndexed")
        );
        assert!(matches!(
            meta::get_path(&job, &["spec", "suspend"]),
            Some(Value::Bool(false))
        ));
        assert_eq!(
            meta::get_str(&job, &["spec", "selector", "matchLabels", CONTROLLER_UID]),
            Some("u-1")
        );
        assert_eq!(
            meta::get_str(
                &job,
                &["spec", "template", "metadata", "labels", "job-name"]
            ),
            Some("pi")
        );
    }

    #[test]
    fn job_template_must_not_restart_always() {
        let mut job = parse(
            r#"{"metadata":{"name":"pi","uid":"u"},"spec":{"template":{"spec":{"containers":[{"name":"pi","image":"perl"}]}}}}"#,
        );
        let mut causes = Vec::new();
        context(Operation::Create, None, |ctx| {
            default_job(ctx, &mut job);
            validate_job(ctx, &job, &mut causes);
        });
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.template.spec.restartPolicy");
        assert_eq!(
            causes[0].message,
            "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        );
    }

    #[test]
    fn cronjob_defaults_and_schedule() {
        let mut cj = parse(
            r#"{"metadata":{"name":"c"},"spec":{"schedule":"61 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}"#,
        );
        let mut causes = Vec::new();
        context(Operation::Create, None, |ctx| {
            default_cronjob(&mut cj);
            validate_cronjob(ctx, &cj, &mut causes);
        });
        assert_eq!(
            meta::get_str(&cj, &["spec", "concurrencyPolicy"]),
            Some("Allow")
        );
        assert_eq!(
            meta::get_i64(&cj, &["spec", "successfulJobsHistoryLimit"]),
            Some(3)
        );
        assert_eq!(
            meta::get_i64(&cj, &["spec", "failedJobsHistoryLimit"]),
            Some(1)
        );
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.schedule");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"
        );
    }
}
