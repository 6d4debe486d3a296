//! PersistentVolumeClaims, PersistentVolumes and StorageClasses: upstream's defaulting
//! (volumeMode Filesystem, phase Pending, a volume's reclaim policy Retain, a class's
//! reclaim policy Delete and binding mode Immediate), the DefaultStorageClass admission
//! plugin (a claim without storageClassName gets the default class), the
//! StorageObjectInUseProtection plugin (the pvc-protection / pv-protection finalizers on
//! create), and the validation messages of the fields wisp reads.

use miniserde::json::{Object, Value};

use super::fields::{array, go_quote, obj_mut, str_default, string, unset, value_text};
use super::{Context, Operation};
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::scheduler::quantity::parse_milli;
use crate::status::{ApiError, Cause, field};
use crate::storage::{classes, names};

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const CLAIM_SPEC_IMMUTABLE: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

fn add_finalizer(object: &mut Value, finalizer: &str) {
    let md = meta::metadata_mut(object);
    let list = md
        .entry("finalizers".to_owned())
        .or_insert_with(|| Value::Array(Default::default()));
    if !matches!(list, Value::Array(_)) {
        *list = Value::Array(Default::default());
    }
    if let Value::Array(items) = list
        && !items
            .iter()
            .any(|f| matches!(f, Value::String(s) if s == finalizer))
    {
        items.push(string(finalizer));
    }
}

fn pending_status(ctx: &Context<'_>, object: &mut Value) {
    if ctx.operation == Operation::Create {
        let status = meta::ensure_object(object, &["status"]);
        str_default(status, "phase", "Pending");
    }
}

pub fn default_claim(ctx: &Context<'_>, object: &mut Value) {
    pending_status(ctx, object);
    let Some(spec) = obj_mut(object, &["spec"]) else {
        return;
    };
    str_default(spec, "volumeMode", "Filesystem");
    if ctx.operation == Operation::Create && ctx.subresource.is_none() {
        let annotated = meta::get_str(
            object,
            &[
                "metadata",
                "annotations",
                "volume.beta.kubernetes.io/storage-class",
            ],
        )
        .is_some();
        let spec = meta::ensure_object(object, &["spec"]);
        if unset(spec, "storageClassName")
            && !annotated
            && let Some(default) = classes::default_name(ctx.store)
        {
            spec.insert("storageClassName".to_owned(), string(&default));
        }
        add_finalizer(object, names::PVC_PROTECTION);
    }
}

pub fn default_volume(ctx: &Context<'_>, object: &mut Value) {
    pending_status(ctx, object);
    if let Some(spec) = obj_mut(object, &["spec"]) {
        str_default(spec, "persistentVolumeReclaimPolicy", "Retain");
        str_default(spec, "volumeMode", "Filesystem");
    }
    if ctx.operation == Operation::Create {
        add_finalizer(object, names::PV_PROTECTION);
    }
}

pub fn default_class(object: &mut Value) {
    if let Some(o) = meta::as_object_mut(object) {
        str_default(o, "reclaimPolicy", "Delete");
        str_default(o, "volumeBindingMode", "Immediate");
    }
}

fn validate_access_modes(spec: &Value, causes: &mut Vec<Cause>) {
    let modes = array(spec, &["accessModes"]);
    if modes.is_empty() {
        causes.push(field::required_because(
            "spec.accessModes",
            "at least 1 access mode is required",
        ));
    }
    for m in modes {
        let text = meta::get_str(m, &[]).unwrap_or("");
        if !ACCESS_MODES.contains(&text) {
            causes.push(field::not_supported(
                "spec.accessModes",
                &go_quote(text),
                &ACCESS_MODES,
            ));
        }
    }
}

pub fn validate_claim(ctx: &Context<'_>, object: &Value, causes: &mut Vec<Cause>) {
    let spec = meta::get_path(object, &["spec"]).unwrap_or(&Value::Null);
    validate_access_modes(spec, causes);
    if meta::get_str(spec, &["resources", "requests", "storage"]).is_none() {
        causes.push(field::required("spec.resources[storage]"));
    }
    if let (Some(old), None) = (ctx.old, ctx.subresource) {
        let old_spec = meta::get_path(old, &["spec"]).unwrap_or(&Value::Null);
        let unbound = meta::get_str(old_spec, &["volumeName"]).is_none_or(str::is_empty);
        let bound = meta::get_str(old, &["status", "phase"]) == Some("Bound");
        let (a, b) = (
            comparable_claim_spec(old_spec, unbound, bound),
            comparable_claim_spec(spec, unbound, bound),
        );
        if !values_equal(&a, &b) {
            causes.push(field::forbidden("spec", CLAIM_SPEC_IMMUTABLE));
        }
        let capacity = meta::get_str(old, &["status", "capacity", "storage"]).and_then(parse_milli);
        let request = |s: &Value| {
            meta::get_str(s, &["resources", "requests", "storage"]).and_then(parse_milli)
        };
        // Shrinking is allowed back down to just above the capacity (recovery from a
        // failed expansion), never to it or below.
        if let (true, Some(capacity), Some(wanted), Some(before)) =
            (bound, capacity, request(spec), request(old_spec))
            && wanted < before
            && wanted <= capacity
        {
            causes.push(field::forbidden(
                "spec.resources.requests.storage",
                "field can not be less than status.capacity",
            ));
        }
    }
}

/// The parts of a claim's spec that may not change: everything but the
/// volumeAttributesClassName, the storage request of a bound claim, and a volumeName set by
/// binding (when it was empty).
fn comparable_claim_spec(spec: &Value, ignore_volume: bool, ignore_storage: bool) -> Value {
    let mut s: Object = meta::as_object(spec).cloned().unwrap_or_default();
    s.remove("volumeAttributesClassName");
    if let (true, Some(Value::Object(resources))) = (ignore_storage, s.get_mut("resources"))
        && let Some(Value::Object(requests)) = resources.get_mut("requests")
    {
        requests.remove("storage");
    }
    if ignore_volume {
        s.remove("volumeName");
    }
    Value::Object(s)
}

/// The PersistentVolumeClaimResize admission plugin: a bound claim's storage request may
/// grow only when its StorageClass has `allowVolumeExpansion: true`.
pub fn check_resize(ctx: &Context<'_>, object: &Value) -> Result<(), ApiError> {
    let Some(old) = ctx.old.filter(|_| ctx.subresource.is_none()) else {
        return Ok(());
    };
    let request = |v: &Value| {
        meta::get_str(v, &["spec", "resources", "requests", "storage"]).and_then(parse_milli)
    };
    let grows = matches!((request(old), request(object)), (Some(a), Some(b)) if b > a);
    if !grows || meta::get_str(old, &["status", "phase"]) != Some("Bound") {
        return Ok(());
    }
    let expandable = classes::get(ctx.store, classes::of_claim(object)).is_some_and(|c| {
        matches!(
            meta::get_path(&c, &["allowVolumeExpansion"]),
            Some(Value::Bool(true))
        )
    });
    if expandable {
        return Ok(());
    }
    let name = meta::name(object).unwrap_or("");
    Err(ApiError::forbidden(
        "",
        "persistentvolumeclaims",
        name,
        format!(
            "persistentvolumeclaims \"{name}\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
        ),
    ))
}

pub fn validate_volume(object: &Value, causes: &mut Vec<Cause>) {
    let spec = meta::get_path(object, &["spec"]).unwrap_or(&Value::Null);
    validate_access_modes(spec, causes);
    if meta::get_str(spec, &["capacity", "storage"]).is_none() {
        causes.push(field::required("spec.capacity"));
    }
    const SOURCES: [&str; 4] = ["hostPath", "local", "nfs", "csi"];
    if !SOURCES.iter().any(|s| meta::get_path(spec, &[s]).is_some()) {
        causes.push(field::required_because(
            "spec",
            "must specify a volume type",
        ));
    }
}

pub fn validate_class(ctx: &Context<'_>, object: &Value, causes: &mut Vec<Cause>) {
    if meta::get_str(object, &["provisioner"]).is_none_or(str::is_empty) {
        causes.push(field::required("provisioner"));
    }
    let Some(old) = ctx.old else { return };
    for (key, message) in [
        ("parameters", "updates to parameters are forbidden."),
        ("provisioner", "updates to provisioner are forbidden."),
        ("reclaimPolicy", "updates to reclaimPolicy are forbidden."),
        ("volumeBindingMode", ""),
    ] {
        let (a, b) = (meta::get_path(old, &[key]), meta::get_path(object, &[key]));
        let same = match (a, b) {
            (Some(a), Some(b)) => values_equal(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        if message.is_empty() {
            let text = b.map(value_text).unwrap_or_default();
            causes.push(field::immutable(key, &go_quote(&text)));
        } else {
            causes.push(field::forbidden(key, message));
        }
    }
}
