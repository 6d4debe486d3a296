//! CronJobs with `spec.timeZone` against a real API server (in-memory store).

use crate::object::{meta, time};
use crate::workloads::tests::Cluster;

const CRON_JOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";

fn cron_job(name: &str, zone: &str) -> String {
    format!(
        r#"{{"apiVersion":"batch/v1","kind":"CronJob","metadata":{{"name":"{name}"}},"spec":{{"schedule":"* * * * *","timeZone":"{zone}",
        "jobTemplate":{{"spec":{{"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"c","image":"busybox"}}]}}}}}}}}}}}}"#
    )
}

#[test]
fn unknown_zones_are_refused_as_upstream() {
    let c = Cluster::new();
    for (zone, message) in [
        (
            "Nowhere/Atlantis",
            r#"spec.timeZone: Invalid value: \"Nowhere/Atlantis\": unknown time zone Nowhere/Atlantis"#,
        ),
        (
            "../../etc/passwd",
            r#"spec.timeZone: Invalid value: \"../../etc/passwd\": unknown time zone ../../etc/passwd"#,
        ),
        (
            "Local",
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ),
    ] {
        let (code, body) =
            c.try_request("POST", CRON_JOBS, "application/json", &cron_job("x", zone));
        assert_eq!(code, 422, "{body}");
        assert!(body.contains(message), "{body}");
    }
}

#[test]
fn a_zoned_cron_job_runs_with_the_zones_timestamp() {
    if !std::path::Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        eprintln!("skipping: no tz database");
        return;
    }
    let c = Cluster::new();
    c.add_node();
    c.create(CRON_JOBS, &cron_job("tick", "Asia/Kolkata"));
    c.settle();
    let earlier = time::format_rfc3339(time::now_unix() - 150);
    c.merge(
        &format!("{CRON_JOBS}/tick/status"),
        &format!(r#"{{"status":{{"lastScheduleTime":"{earlier}"}}}}"#),
    );
    c.settle();
    let jobs = c.list("/registry/batch/jobs/default/");
    assert_eq!(jobs.len(), 1);
    let stamp = meta::get_str(
        &jobs[0],
        &[
            "metadata",
            "annotations",
            "batch.kubernetes.io/cronjob-scheduled-timestamp",
        ],
    )
    .unwrap();
    assert!(stamp.ends_with(":00+05:30"), "{stamp}");
}
