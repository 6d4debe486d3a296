//! Indexed completion mode, as upstream's: each pod carries its completion index in the
//! `batch.kubernetes.io/job-completion-index` annotation and label, is named
//! `<job>-<index>-<suffix>`, gets the hostname `<job>-<index>` unless the template sets one,
//! and sees the index as `JOB_COMPLETION_INDEX` through the downward API (a fieldRef to that
//! label, added to every container and init container that does not define it). The Job is
//! complete when every index in `[0, completions)` has a succeeded pod; `completedIndexes`
//! lists them as ranges ("0-2,5").

use std::collections::BTreeSet;

use miniserde::json::{Object, Value};

use crate::object::meta;
use crate::workloads::objects::{object, string};

pub const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
const ENV_NAME: &str = "JOB_COMPLETION_INDEX";

pub fn is_indexed(job: &Value) -> bool {
    meta::get_str(job, &["spec", "completionMode"]) == Some("Indexed")
}

/// The pod's completion index, from its annotation.
pub fn index_of(pod: &Value) -> Option<i64> {
    meta::get_str(pod, &["metadata", "annotations", INDEX_KEY])?
        .parse()
        .ok()
        .filter(|i| *i >= 0)
}

/// Makes a pod from the template the pod of `index`.
pub fn assign(pod: &mut Value, job_name: &str, index: i64) {
    let text = index.to_string();
    let md = meta::metadata_mut(pod);
    md.insert(
        "generateName".to_owned(),
        string(format!("{job_name}-{index}-")),
    );
    for field in ["annotations", "labels"] {
        let map = md
            .entry(field.to_owned())
            .or_insert_with(|| Value::Object(Object::new()));
        if let Value::Object(m) = map {
            m.insert(INDEX_KEY.to_owned(), string(text.as_str()));
        }
    }
    let spec = meta::ensure_object(pod, &["spec"]);
    if spec
        .get("hostname")
        .and_then(|h| meta::get_str(h, &[]))
        .is_none_or(str::is_empty)
    {
        spec.insert("hostname".to_owned(), string(format!("{job_name}-{index}")));
    }
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for c in containers.iter_mut() {
                add_index_env(c);
            }
        }
    }
}

fn add_index_env(container: &mut Value) {
    let Some(c) = meta::as_object_mut(container) else {
        return;
    };
    let env = c
        .entry("env".to_owned())
        .or_insert_with(|| Value::Array(Vec::new().into_iter().collect()));
    let Value::Array(env) = env else {
        return;
    };
    if env
        .iter()
        .any(|e| meta::get_str(e, &["name"]) == Some(ENV_NAME))
    {
        return;
    }
    env.push(object([
        ("name", string(ENV_NAME)),
        (
            "valueFrom",
            object([(
                "fieldRef",
                object([
                    ("apiVersion", string("v1")),
                    (
                        "fieldPath",
                        string(format!("metadata.labels['{INDEX_KEY}']")),
                    ),
                ]),
            )]),
        ),
    ]));
}

/// `completedIndexes` as upstream writes it: sorted, runs of consecutive indexes as ranges.
pub fn format_indexes(indexes: &BTreeSet<i64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    for &i in indexes {
        run = match run {
            Some((first, last)) if i == last + 1 => Some((first, i)),
            Some(done) => {
                parts.push(range_text(done));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    parts.extend(run.map(range_text));
    parts.join(",")
}

fn range_text((first, last): (i64, i64)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// Parses `completedIndexes` (what the status already recorded).
pub fn parse_indexes(text: &str) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (first.parse::<i64>(), last.parse::<i64>()) {
            out.extend(a..=b.min(a + 100_000));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_compress_to_ranges_and_back() {
        let set: BTreeSet<i64> = [0, 1, 2, 5, 7, 8].into_iter().collect();
        assert_eq!(format_indexes(&set), "0-2,5,7-8");
        assert_eq!(parse_indexes("0-2,5,7-8"), set);
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn an_indexed_pod_gets_its_name_hostname_labels_and_env() {
        let mut pod = meta::from_json_bytes(
            br#"{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"a"},
            {"name":"b","env":[{"name":"JOB_COMPLETION_INDEX","value":"mine"}]}],"initContainers":[{"name":"i"}]}}"#,
        )
        .unwrap();
        assign(&mut pod, "work", 3);
        assert_eq!(
            meta::get_str(&pod, &["metadata", "generateName"]),
            Some("work-3-")
        );
        assert_eq!(index_of(&pod), Some(3));
        assert_eq!(
            meta::get_str(&pod, &["metadata", "labels", INDEX_KEY]),
            Some("3")
        );
        assert_eq!(meta::get_str(&pod, &["spec", "hostname"]), Some("work-3"));
        let text = String::from_utf8(meta::to_json_bytes(&pod)).unwrap();
        assert_eq!(
            text.matches("metadata.labels['batch.kubernetes.io/job-completion-index']")
                .count(),
            2,
            "{text}"
        );
        assert!(text.contains(r#""value":"mine""#));
    }
}
