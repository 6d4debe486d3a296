//! Label and field selectors for list, watch and deletecollection, and for the structured
//! selectors inside objects (Deployment `spec.selector`, Service `spec.selector`). Parsing
//! and matching only: which fields a resource supports is the registry's data.

pub mod field;
pub mod label;
mod label_parser;
pub mod validation;

pub use field::{
    FieldOperator, FieldRequirement, FieldSelector, FieldSelectorError, Fields, ObjectFields,
};
pub use label::{LabelSelector, LabelSelectorError, Labels, Operator, Requirement, object_labels};
