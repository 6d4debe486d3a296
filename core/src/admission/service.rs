//! Services: upstream's defaults (core/v1 `SetDefaults_Service` plus what the Service REST
//! layer fills: ClusterIPs, IP families), validation of type, ports and names, ClusterIP and
//! NodePort allocation from the [`Allocators`](super::allocator::Allocators), and the
//! ClusterIP staying what it was once set.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use miniserde::json::{Object, Value};

use super::allocator::AllocError;
use super::fields::{
    array, ensure_child, go_quote, go_string_slice, int, int_default, obj_mut, objects_mut,
    set_default, str_default, str_of, string, unset,
};
use super::names::LABEL_MSG;
use super::pod_spec::{PORT_RANGE_MSG, validate_protocol};
use super::{Context, Operation};
use crate::object::meta;
use crate::status::{ApiError, Cause, field};

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

fn service_type(svc: &Value) -> &str {
    meta::get_str(svc, &["spec", "type"]).unwrap_or("ClusterIP")
}

fn cluster_ip(svc: &Value) -> &str {
    meta::get_str(svc, &["spec", "clusterIP"])
        .filter(|s| !s.is_empty())
        .or_else(|| match array(svc, &["spec", "clusterIPs"]).first() {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn needs_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => !matches!(
            meta::get_path(svc, &["spec", "allocateLoadBalancerNodePorts"]),
            Some(Value::Bool(false))
        ),
        _ => false,
    }
}

pub fn default(svc: &mut Value) {
    let Some(spec) = obj_mut(svc, &["spec"]) else {
        return;
    };
    str_default(spec, "type", "ClusterIP");
    str_default(spec, "sessionAffinity", "None");
    let kind = str_of(spec, "type").unwrap_or("").to_owned();
    for port in objects_mut(spec, "ports") {
        str_default(port, "protocol", "TCP");
        let target_unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(v) => meta::get_i64(v, &[]) == Some(0),
        };
        if target_unset && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".to_owned(), p);
        }
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        str_default(spec, "externalTrafficPolicy", "Cluster");
    }
    if kind == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", Value::Bool(true));
    }
    if kind != "ExternalName" {
        str_default(spec, "internalTrafficPolicy", "Cluster");
    }
    if str_of(spec, "sessionAffinity") == Some("ClientIP") {
        let config = ensure_child(ensure_child(spec, "sessionAffinityConfig"), "clientIP");
        int_default(config, "timeoutSeconds", 10800);
    }
}

/// What an update may leave out and still mean "keep": the ClusterIP, and NodePorts while
/// the Service keeps needing them; NodePorts go when the type stops needing them.
pub fn carry_over(old: &Value, new: &mut Value) {
    let both_have_ips = service_type(old) != "ExternalName" && service_type(new) != "ExternalName";
    let old_ip = cluster_ip(old).to_owned();
    let old_ips = meta::get_path(old, &["spec", "clusterIPs"]).cloned();
    let keep_ports = needs_node_ports(old) && needs_node_ports(new);
    let drop_ports = needs_node_ports(old) && !needs_node_ports(new);
    let old_ports: Vec<Value> = array(old, &["spec", "ports"]).to_vec();
    let old_health = meta::get_i64(old, &["spec", "healthCheckNodePort"]);
    let Some(spec) = obj_mut(new, &["spec"]) else {
        return;
    };
    if both_have_ips && !old_ip.is_empty() {
        if str_of(spec, "clusterIP").unwrap_or("").is_empty() {
            spec.insert("clusterIP".to_owned(), string(&old_ip));
        }
        if unset(spec, "clusterIPs")
            && str_of(spec, "clusterIP") == Some(old_ip.as_str())
            && let Some(ips) = old_ips
        {
            spec.insert("clusterIPs".to_owned(), ips);
        }
    }
    if let Some(n) = old_health.filter(|_| keep_ports)
        && node_port_of_key(spec, "healthCheckNodePort").is_none()
    {
        spec.insert("healthCheckNodePort".to_owned(), int(n));
    }
    for port in objects_mut(spec, "ports") {
        if drop_ports {
            port.remove("nodePort");
        } else if keep_ports && node_port_of(port).is_none() {
            let same = old_ports.iter().find(|p| {
                meta::get_i64(p, &["port"]) == port.get("port").and_then(|v| meta::get_i64(v, &[]))
                    && meta::get_str(p, &["protocol"]) == str_of(port, "protocol")
            });
            if let Some(n) = same.and_then(|p| meta::get_i64(p, &["nodePort"])) {
                port.insert("nodePort".to_owned(), int(n));
            }
        }
    }
}

fn node_port_of(port: &Object) -> Option<i64> {
    node_port_of_key(port, "nodePort")
}

fn node_port_of_key(o: &Object, key: &str) -> Option<i64> {
    o.get(key)
        .and_then(|v| meta::get_i64(v, &[]))
        .filter(|n| *n != 0)
}

pub fn validate(ctx: &Context<'_>, svc: &Value, causes: &mut Vec<Cause>) {
    if ctx.subresource.is_some() {
        return;
    }
    let kind = service_type(svc);
    if !TYPES.contains(&kind) {
        causes.push(field::not_supported("spec.type", &go_quote(kind), &TYPES));
    }
    let affinity = meta::get_str(svc, &["spec", "sessionAffinity"]).unwrap_or("");
    if !["ClientIP", "None"].contains(&affinity) {
        causes.push(field::not_supported(
            "spec.sessionAffinity",
            &go_quote(affinity),
            &["ClientIP", "None"],
        ));
    }
    let headless = cluster_ip(svc) == "None";
    let ports = array(svc, &["spec", "ports"]);
    if ports.is_empty() && !headless && kind != "ExternalName" {
        causes.push(field::required("spec.ports"));
    }
    if kind == "ExternalName"
        && meta::get_str(svc, &["spec", "externalName"])
            .unwrap_or("")
            .is_empty()
    {
        causes.push(field::required("spec.externalName"));
    }
    validate_ports(kind, ports, causes);
    let ip = cluster_ip(svc);
    if !ip.is_empty() && ip != "None" && ip.parse::<std::net::IpAddr>().is_err() {
        causes.push(field::invalid("spec.clusterIPs[0]", &go_quote(ip), IP_MSG));
    }
    if let Some(old) = ctx.old {
        let before = cluster_ip(old);
        let both_have_ips = service_type(old) != "ExternalName" && kind != "ExternalName";
        if both_have_ips && !before.is_empty() && ip != before {
            causes.push(field::invalid(
                "spec.clusterIPs[0]",
                &go_string_slice(&[ip]),
                "may not change once set",
            ));
        }
    }
}

fn validate_ports(kind: &str, ports: &[Value], causes: &mut Vec<Cause>) {
    let mut names = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        let name = meta::get_str(p, &["name"]).unwrap_or("");
        if name.is_empty() && ports.len() > 1 {
            causes.push(field::required(&format!("{at}.name")));
        } else if !name.is_empty() {
            if !super::names::is_dns1123_label(name) {
                causes.push(field::invalid(
                    &format!("{at}.name"),
                    &go_quote(name),
                    LABEL_MSG,
                ));
            }
            if !names.insert(name.to_owned()) {
                causes.push(field::duplicate(&format!("{at}.name"), &go_quote(name)));
            }
        }
        port_number(p, "port", &at, causes);
        validate_protocol(p, &at, causes);
        if matches!(meta::get_path(p, &["targetPort"]), Some(Value::Number(_))) {
            port_number(p, "targetPort", &at, causes);
        }
        if let Some(n) = meta::get_i64(p, &["nodePort"]).filter(|n| *n != 0) {
            if kind == "ClusterIP" {
                causes.push(field::forbidden(
                    &format!("{at}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !node_ports.insert(n) {
                causes.push(field::duplicate(&format!("{at}.nodePort"), &n.to_string()));
            }
        }
    }
}

fn port_number(p: &Value, key: &str, at: &str, causes: &mut Vec<Cause>) {
    match meta::get_i64(p, &[key]) {
        Some(n) if (1..=65535).contains(&n) => {}
        Some(n) => causes.push(field::invalid(
            &format!("{at}.{key}"),
            &n.to_string(),
            PORT_RANGE_MSG,
        )),
        None if key == "port" => {
            causes.push(field::invalid(&format!("{at}.{key}"), "0", PORT_RANGE_MSG))
        }
        None => {}
    }
}

/// Allocates the ClusterIP and NodePorts the Service needs, honouring requested ones.
pub fn allocate(ctx: &Context<'_>, svc: &mut Value) -> Result<(), ApiError> {
    if ctx.subresource.is_some() {
        return Ok(());
    }
    let name = meta::name(svc).unwrap_or("").to_owned();
    let owner = crate::api::read::object_key(ctx.resource, meta::namespace(svc), &name);
    if ctx.operation == Operation::Create && ctx.store.get(owner.as_bytes()).is_some() {
        // Answer AlreadyExists before claiming anything the failed create would leak.
        return Err(ApiError::already_exists("", "services", &name));
    }
    let result = allocate_ip(ctx, &owner, svc).and_then(|()| allocate_node_ports(ctx, &owner, svc));
    if result.is_err() {
        ctx.allocators.forget_pending(&owner);
    }
    result.map_err(|e| match e {
        Refused::Invalid(cause) => ApiError::invalid("", "Service", &name, vec![cause]),
        Refused::Full(what) => {
            ApiError::internal(format!("failed to allocate a {what}: range is full"))
        }
    })
}

enum Refused {
    Invalid(Cause),
    Full(&'static str),
}

fn allocate_ip(ctx: &Context<'_>, owner: &str, svc: &mut Value) -> Result<(), Refused> {
    if service_type(svc) == "ExternalName" {
        return Ok(());
    }
    let requested = cluster_ip(svc).to_owned();
    let has_selector = meta::get_path(svc, &["spec", "selector"])
        .and_then(meta::as_object)
        .is_some_and(|o| !o.is_empty());
    let ip = match requested.as_str() {
        "None" => "None".to_owned(),
        "" => match ctx
            .allocators
            .allocate_ip(ctx.store, owner, None, ctx.dry_run)
        {
            Ok(ip) => ip.to_string(),
            Err(_) => return Err(Refused::Full("serviceIP")),
        },
        text => {
            let parsed: Ipv4Addr = text.parse().map_err(|_| {
                Refused::Invalid(field::invalid(
                    "spec.clusterIPs[0]",
                    &go_quote(text),
                    IP_MSG,
                ))
            })?;
            ctx.allocators
                .allocate_ip(ctx.store, owner, Some(parsed), ctx.dry_run)
                .map_err(|e| Refused::Invalid(ip_refusal(ctx, text, e)))?;
            text.to_owned()
        }
    };
    let Some(spec) = obj_mut(svc, &["spec"]) else {
        return Ok(());
    };
    spec.insert("clusterIP".to_owned(), string(&ip));
    spec.insert(
        "clusterIPs".to_owned(),
        Value::Array(std::iter::once(string(&ip)).collect()),
    );
    let policy = if ip == "None" && !has_selector {
        "RequireDualStack"
    } else {
        "SingleStack"
    };
    str_default(spec, "ipFamilyPolicy", policy);
    set_default(
        spec,
        "ipFamilies",
        Value::Array(std::iter::once(string("IPv4")).collect()),
    );
    Ok(())
}

fn ip_refusal(ctx: &Context<'_>, ip: &str, e: AllocError) -> Cause {
    let why = match e {
        AllocError::Allocated => "provided IP is already allocated".to_owned(),
        AllocError::NotInRange | AllocError::Full => format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            ctx.allocators.network().cidr()
        ),
    };
    field::invalid(
        "spec.clusterIPs",
        &go_string_slice(&[ip]),
        &format!("failed to allocate IP {ip}: {why}"),
    )
}

fn allocate_node_ports(ctx: &Context<'_>, owner: &str, svc: &mut Value) -> Result<(), Refused> {
    if !needs_node_ports(svc) {
        return Ok(());
    }
    let (lo, hi) = ctx.allocators.network().node_ports;
    let Some(spec) = obj_mut(svc, &["spec"]) else {
        return Ok(());
    };
    for (i, port) in objects_mut(spec, "ports").enumerate() {
        let requested = node_port_of(port);
        let got = ctx
            .allocators
            .allocate_port(ctx.store, owner, requested, ctx.dry_run)
            .map_err(|e| match (e, requested) {
                (AllocError::Full, None) => Refused::Full("nodePort"),
                (e, n) => {
                    let why = if e == AllocError::Allocated {
                        "provided port is already allocated".to_owned()
                    } else {
                        format!("provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
                    };
                    Refused::Invalid(field::invalid(
                        &format!("spec.ports[{i}].nodePort"),
                        &n.unwrap_or(0).to_string(),
                        &why,
                    ))
                }
            })?;
        port.insert("nodePort".to_owned(), int(i64::from(got)));
    }
    allocate_health_check_port(ctx, owner, svc)
}

/// LoadBalancer Services with `externalTrafficPolicy: Local` get a health-check NodePort.
fn allocate_health_check_port(
    ctx: &Context<'_>,
    owner: &str,
    svc: &mut Value,
) -> Result<(), Refused> {
    let local = service_type(svc) == "LoadBalancer"
        && meta::get_str(svc, &["spec", "externalTrafficPolicy"]) == Some("Local");
    let Some(spec) = obj_mut(svc, &["spec"]) else {
        return Ok(());
    };
    if !local {
        spec.remove("healthCheckNodePort");
        return Ok(());
    }
    let requested = node_port_of_key(spec, "healthCheckNodePort");
    let got = ctx
        .allocators
        .allocate_port(ctx.store, owner, requested, ctx.dry_run)
        .map_err(|e| match e {
            AllocError::Full if requested.is_none() => Refused::Full("nodePort"),
            AllocError::Allocated => Refused::Invalid(field::invalid(
                "spec.healthCheckNodePort",
                &requested.unwrap_or(0).to_string(),
                "provided port is already allocated",
            )),
            _ => Refused::Invalid(field::invalid(
                "spec.healthCheckNodePort",
                &requested.unwrap_or(0).to_string(),
                "provided port is not in the valid range",
            )),
        })?;
    spec.insert("healthCheckNodePort".to_owned(), int(i64::from(got)));
    Ok(())
}

#[cfg(test)]
mod tests;
