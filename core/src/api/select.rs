//! A request's label and field selectors, checked against the resource's field labels and
//! matched against objects (parsed, or as stored bytes).

use miniserde::json::Value;
use wisp_store::KeyValue;

use super::params::Params;
use crate::object::meta;
use crate::registry::Resource;
use crate::selector::field::FieldSelector;
use crate::selector::label::LabelSelector;
use crate::status::ApiError;

#[derive(Debug, Default)]
pub struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selection {
    /// Parses the selectors of a list or watch, refusing field labels the resource does not
    /// support with upstream's message.
    pub fn from_params(resource: &Resource, params: &Params) -> Result<Selection, ApiError> {
        let labels = params
            .label_selector
            .as_deref()
            .map(|s| {
                LabelSelector::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
            })
            .transpose()?;
        let fields = params
            .field_selector
            .as_deref()
            .map(|s| FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string())))
            .transpose()?;
        if let Some(fields) = &fields {
            for requirement in fields.requirements() {
                let label = requirement.field.as_str();
                if resource.field_label(label).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {label}"
                    )));
                }
            }
        }
        Ok(Selection { labels, fields })
    }

    pub fn is_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// The single name a `metadata.name=X` field selector pins, for named watches.
    pub fn pinned_name(&self) -> Option<&str> {
        self.fields.as_ref()?.exact_match("metadata.name")
    }

    pub fn matches(&self, resource: &Resource, object: &Value) -> bool {
        if let Some(labels) = &self.labels
            && !labels.matches_object(object)
        {
            return false;
        }
        if let Some(fields) = &self.fields {
            let lookup = |label: &str| {
                let field = resource.field_label(label)?;
                match meta::get_path(object, field.path) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    // Absent fields compare as the empty string, as upstream's field sets do.
                    _ => Some(String::new()),
                }
            };
            if !fields.matches(&lookup) {
                return false;
            }
        }
        true
    }

    /// Matches a stored object, parsing it only when a selector needs it.
    pub fn matches_stored(&self, resource: &Resource, kv: &KeyValue) -> Result<bool, ApiError> {
        if self.is_everything() {
            return Ok(true);
        }
        let object = super::read::parse_stored(kv)?;
        Ok(self.matches(resource, &object))
    }
}
