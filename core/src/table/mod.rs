//! Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the
//! column definitions and cells kubectl prints for `get`, matching upstream's printers
//! (kubernetes pkg/printers/internalversion/printers.go) for built-in kinds and a CRD's
//! additionalPrinterColumns for custom resources.
//!
//! Every column is always sent (kubectl hides priority > 0 columns unless `-o wide`), as the
//! upstream server does. Cells are computed from stored objects as `miniserde` Values.

mod age;
mod cells;
mod cluster;
mod jsonpath;
mod network;
mod pod;
mod workloads;

use miniserde::json::Value;

pub use age::{age_since, format_rfc3339, human_duration, parse_rfc3339};
pub use jsonpath::JsonPath;
pub use pod::pod_status;

use crate::registry::json::{arr, int, obj, path, s};
use crate::registry::{Resource, Str};

/// One column of a Table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: Str,
    /// string, integer, number, boolean or date.
    pub type_: Str,
    /// `name` for the Name column, else empty.
    pub format: Str,
    pub priority: i64,
}

const fn column(
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    priority: i64,
) -> Column {
    Column {
        name: Str::Borrowed(name),
        type_: Str::Borrowed(type_),
        format: Str::Borrowed(format),
        priority,
    }
}

/// A column of a built-in printer.
pub(crate) const fn col(name: &'static str, type_: &'static str) -> Column {
    column(name, type_, "", 0)
}

/// A priority-1 (wide) column.
pub(crate) const fn wide(name: &'static str, type_: &'static str) -> Column {
    column(name, type_, "", 1)
}

/// The Name column.
pub(crate) const NAME: Column = column("Name", "string", "name", 0);
/// The Name column as a wide column (events list it last).
pub(crate) const WIDE_NAME: Column = column("Name", "string", "name", 1);
pub(crate) const AGE: Column = col("Age", "string");
pub(crate) const CREATED_AT: Column = col("Created At", "date");

/// What each row carries in `object` (the `includeObject` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    /// PartialObjectMetadata, the default.
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses `includeObject=None|Metadata|Object`; unknown values are `None` (an error to
    /// report upstream-style is the caller's choice).
    pub fn parse(text: &str) -> Option<IncludeObject> {
        match text {
            "None" => Some(IncludeObject::None),
            "Metadata" => Some(IncludeObject::Metadata),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// Computes cells for one object at `now` (unix seconds).
pub(crate) type CellFn = fn(&Value, i64) -> Vec<Value>;

/// A built-in kind's printer.
pub(crate) struct Printer {
    pub group: &'static str,
    pub kind: &'static str,
    pub columns: &'static [Column],
    pub cells: CellFn,
}

fn builtin_printer(group: &str, kind: &str) -> Option<&'static Printer> {
    workloads::PRINTERS
        .iter()
        .chain(pod::PRINTERS)
        .chain(network::PRINTERS)
        .chain(cluster::PRINTERS)
        .find(|p| p.group == group && p.kind == kind)
}

/// The columns of a resource's Table: its printer's, its CRD columns after Name, or upstream's
/// default (Name, Created At).
pub fn columns(resource: &Resource) -> Vec<Column> {
    if let Some(printer) = builtin_printer(&resource.group, &resource.kind) {
        return printer.columns.to_vec();
    }
    if resource.builtin {
        return vec![NAME, CREATED_AT];
    }
    let mut columns = vec![NAME];
    columns.extend(custom_columns(resource).into_iter().map(|(c, _)| c));
    columns
}

/// A CRD's columns: its additionalPrinterColumns, or `Age` when it declares none (what the
/// apiextensions server defaults).
fn custom_columns(resource: &Resource) -> Vec<(Column, JsonPath)> {
    if resource.printer_columns.is_empty() {
        let age = col("Age", "date");
        return vec![(age, JsonPath::parse(".metadata.creationTimestamp"))];
    }
    resource
        .printer_columns
        .iter()
        .map(|c| {
            let column = Column {
                name: c.name.clone(),
                type_: c.type_.clone(),
                format: c.format.clone(),
                priority: c.priority,
            };
            (column, JsonPath::parse(&c.json_path))
        })
        .collect()
}

/// The cells of one object, one per column of [`columns`].
pub fn cells(resource: &Resource, object: &Value, now: i64) -> Vec<Value> {
    if let Some(printer) = builtin_printer(&resource.group, &resource.kind) {
        return (printer.cells)(object, now);
    }
    let name = s(cells::name(object));
    if resource.builtin {
        let created = cells::str_or(object, &["metadata", "creationTimestamp"], "");
        return vec![name, s(created)];
    }
    let mut row = vec![name];
    for (column, path) in custom_columns(resource) {
        row.push(jsonpath::cell(&path, &column.type_, object, now));
    }
    row
}

fn column_value(column: &Column) -> Value {
    obj([
        ("name", s(&column.name)),
        ("type", s(&column.type_)),
        ("format", s(&column.format)),
        ("description", s(column_description(&column.name))),
        ("priority", int(column.priority)),
    ])
}

/// Short descriptions for the columns every table has; kubectl does not print them.
fn column_description(name: &str) -> &'static str {
    match name {
        "Name" => "Name must be unique within a namespace.",
        "Age" | "Created At" => "When the object was created.",
        _ => "",
    }
}

fn row_object(object: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Object => Some(object.clone()),
        IncludeObject::Metadata => {
            let metadata = path(object, &["metadata"]).cloned().unwrap_or(obj([]));
            Some(obj([
                ("kind", s("PartialObjectMetadata")),
                ("apiVersion", s("meta.k8s.io/v1")),
                ("metadata", metadata),
            ]))
        }
    }
}

/// The meta.k8s.io/v1 Table for `objects` of `resource` at `now` (unix seconds).
/// `list_meta` is the list's metadata (`resourceVersion`, `continue`,
/// `remainingItemCount`); pass an empty object for a single object or a watch event.
pub fn table_json(
    resource: &Resource,
    objects: &[&Value],
    now: i64,
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    let rows = objects.iter().map(|object| {
        let mut row = obj([("cells", arr(cells(resource, object, now)))]);
        if let Some(conditions) = pod::row_conditions(resource, object) {
            crate::registry::json::set(&mut row, "conditions", conditions);
        }
        if let Some(o) = row_object(object, include) {
            crate::registry::json::set(&mut row, "object", o);
        }
        row
    });
    obj([
        ("kind", s("Table")),
        ("apiVersion", s("meta.k8s.io/v1")),
        ("metadata", list_meta),
        (
            "columnDefinitions",
            arr(columns(resource).iter().map(column_value)),
        ),
        ("rows", arr(rows)),
    ])
}

#[cfg(test)]
mod tests;
