//! Fuzzes the label and field selector parsers (the `labelSelector` and `fieldSelector`
//! query parameters, so any client reaches them) and matches what they accept against a
//! fixed pod: parse or refuse, never panic, and a parsed selector holds no more
//! requirements than the text could spell.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use miniserde::json::Value;
use wisp_core::selector::field::ObjectFields;
use wisp_core::selector::{FieldSelector, LabelSelector};

static POD: LazyLock<Value> = LazyLock::new(|| {
    miniserde::json::from_str(
        r#"{"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"web-0","namespace":"default",
                "labels":{"app":"web","tier":"front","example.com/role":"a-b.c_d","empty":""}},
            "spec":{"nodeName":"board","restartPolicy":"Always"},
            "status":{"phase":"Running"}}"#,
    )
    .expect("fixed pod parses")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = LabelSelector::parse(text) {
        assert!(selector.requirements().len() <= text.len() + 1);
        let _ = selector.matches_object(&POD);
    }
    if let Ok(selector) = FieldSelector::parse(text) {
        assert!(selector.requirements().len() <= text.len() + 1);
        let _ = selector.matches(&ObjectFields(&POD));
        let _ = selector.exact_match("metadata.name");
    }
});
