//! Fuzzes the four patch appliers on a fixed Deployment with arbitrary patch bytes parsed
//! as JSON: JSON patch, merge patch, strategic merge patch (with the Deployment's merge
//! keys) and server-side apply. Each returns an object or an error, never panics, and the
//! result stays within a bound of the inputs (a JSON patch `copy` can at most double the
//! document per operation, and patches carry few operations here).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use miniserde::json::Value;
use wisp_core::patch::{
    BuiltinPatchMeta, apply, apply_json_patch, apply_merge_patch, apply_strategic_merge_patch,
};

/// JSON patches with more operations are skipped: each `copy` may double the document,
/// which is legitimate work bounded by the body limit in the server, not a finding.
const MAX_JSON_PATCH_OPS: usize = 8;

static LIVE: LazyLock<Value> = LazyLock::new(|| {
    miniserde::json::from_str(
        r#"{"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","namespace":"default","labels":{"app":"web"},
                "managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1",
                    "time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1",
                    "fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":
                        {"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}}]},
            "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},
                    "spec":{"containers":[{"name":"web","image":"nginx",
                        "ports":[{"containerPort":80,"protocol":"TCP"}],
                        "env":[{"name":"A","value":"1"}]}],
                        "volumes":[{"name":"data","emptyDir":{}}]}}}}"#,
    )
    .expect("fixed deployment parses")
});

fuzz_target!(|data: &[u8]| {
    let Some((&which, raw)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    let Ok(patch) = miniserde::json::from_str::<Value>(text) else {
        return;
    };
    let live_len = miniserde::json::to_string(&*LIVE).len();
    let meta = BuiltinPatchMeta::new("Deployment");
    let result = match which % 4 {
        0 => {
            if matches!(&patch, Value::Array(ops) if ops.len() > MAX_JSON_PATCH_OPS) {
                return;
            }
            apply_json_patch(LIVE.clone(), &patch).ok()
        }
        1 => apply_merge_patch(LIVE.clone(), &patch).ok(),
        2 => apply_strategic_merge_patch(LIVE.clone(), &patch, &meta).ok(),
        _ => apply(
            Some(&LIVE),
            &patch,
            "fuzz",
            which & 4 != 0,
            &meta,
            "2026-01-02T00:00:00Z",
        )
        .ok()
        .map(|r| r.object),
    };
    if let Some(object) = result {
        let out = miniserde::json::to_string(&object).len();
        let bound = (live_len + text.len() * 4 + 4096) << MAX_JSON_PATCH_OPS;
        assert!(
            out <= bound,
            "result of {out} bytes from {} patch bytes",
            text.len()
        );
    }
});
