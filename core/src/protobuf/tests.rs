//! Tests of the whole transcoder: bodies captured from kubectl 1.32.4 (`testdata/*.pb`,
//! POSTed by `kubectl create … --dry-run=server` to a capturing HTTPS listener) against
//! the JSON the same command prints with `--dry-run=client -o json` (`testdata/*.json`),
//! hand-built bodies for the remaining kinds, and hostile input.

use miniserde::json::{self, Value};

use super::test_encoder::{Encoder, envelope};
use super::*;

/// Canonical JSON text: objects are BTreeMaps, so member order cannot differ.
fn canonical(text: &str) -> String {
    let value: Value =
        json::from_str(text).unwrap_or_else(|e| panic!("bad expected json {e}: {text}"));
    json::to_string(&value)
}

fn decoded(body: &[u8]) -> String {
    json::to_string(&decode_to_json(body).unwrap_or_else(|e| panic!("decode failed: {e}")))
}

macro_rules! captured {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("testdata/", $name, ".pb")).as_slice(),
            include_str!(concat!("testdata/", $name, ".json")),
        )
    };
}

/// (name, protobuf body kubectl sent, JSON kubectl prints for the same object)
const CAPTURED: &[(&str, &[u8], &str)] = &[
    captured!("configmap"),
    captured!("secret-generic"),
    captured!("secret-tls"),
    captured!("secret-docker"),
    captured!("secret-file"),
    captured!("deployment"),
    captured!("deployment-cmd"),
    captured!("namespace"),
    captured!("serviceaccount"),
    captured!("service-clusterip"),
    captured!("service-nodeport"),
    captured!("service-externalname"),
    captured!("job"),
    captured!("cronjob"),
    captured!("role"),
    captured!("rolebinding"),
    captured!("clusterrole"),
    captured!("clusterrole-agg"),
    captured!("clusterrolebinding"),
    captured!("priorityclass"),
    captured!("quota"),
    captured!("ingress"),
    captured!("pdb"),
    captured!("pdb-int"),
];

#[test]
fn captured_kubectl_bodies_match_kubectl_json() {
    for (name, body, expected) in CAPTURED {
        assert_eq!(decoded(body), canonical(expected), "vector {name}");
    }
}

/// Requests with no client-side dry run: the expected JSON is written from the Go types
/// (authorization/v1, authentication/v1 types.go).
#[test]
fn captured_auth_and_token_bodies() {
    let cases: &[(&[u8], &str)] = &[
        (
            include_bytes!("testdata/cani.pb"),
            r#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1",
               "metadata":{"creationTimestamp":null},
               "spec":{"resourceAttributes":{"namespace":"default","verb":"create","resource":"pods"}},
               "status":{"allowed":false}}"#,
        ),
        (
            include_bytes!("testdata/cani-sub.pb"),
            r#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1",
               "metadata":{"creationTimestamp":null},
               "spec":{"resourceAttributes":{"namespace":"kube-system","verb":"get",
                       "resource":"pods","subresource":"log","name":"log"}},
               "status":{"allowed":false}}"#,
        ),
        (
            include_bytes!("testdata/cani-list.pb"),
            r#"{"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1",
               "metadata":{"creationTimestamp":null},"spec":{"namespace":"default"},
               "status":{"resourceRules":null,"nonResourceRules":null,"incomplete":false}}"#,
        ),
        (
            include_bytes!("testdata/whoami.pb"),
            r#"{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1",
               "metadata":{"creationTimestamp":null},"status":{"userInfo":{}}}"#,
        ),
        (
            include_bytes!("testdata/token.pb"),
            r#"{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1",
               "metadata":{"creationTimestamp":null},
               "spec":{"audiences":["api"],"expirationSeconds":3600},
               "status":{"token":"","expirationTimestamp":null}}"#,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(decoded(body), canonical(expected));
    }
}

/// ObjectMeta as Go's marshaller writes it: every non-pointer field, even when empty.
fn empty_meta(e: &mut Encoder, name: &str) {
    e.message(1, |m| {
        m.string(1, name)
            .string(2, "")
            .string(3, "")
            .string(4, "")
            .string(5, "");
        m.string(6, "").int64(7, 0).bytes(8, &[]);
    });
}

#[test]
fn object_meta_all_fields() {
    let raw = {
        let mut e = Encoder::new();
        e.message(1, |m| {
            m.string(1, "")
                .string(2, "gen-")
                .string(3, "ns")
                .string(4, "")
                .string(5, "u-1");
            m.string(6, "42").int64(7, 3);
            m.message(8, |t| {
                t.int64(1, 1_700_000_000).int32(2, 0);
            });
            m.message(9, |t| {
                t.int64(1, 1_700_000_030);
            });
            m.int64(10, 0);
            m.map_entry(11, "app", "web").map_entry(11, "tier", "");
            m.map_entry(12, "note", "x");
            m.message(13, |o| {
                o.string(1, "ReplicaSet")
                    .string(3, "rs")
                    .string(4, "u-2")
                    .string(5, "apps/v1");
                o.bool(6, true).bool(7, false);
            });
            m.string(14, "a/b").string(14, "c/d");
            m.message(17, |f| {
                f.string(1, "kubectl").string(2, "Update").string(3, "v1");
                f.message(4, |t| {
                    t.int64(1, 0);
                });
                f.string(6, "FieldsV1").message(7, |r| {
                    r.bytes(1, br#"{"f:data":{}}"#);
                });
                f.string(8, "");
            });
        });
        e.finish()
    };
    let expected = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{
        "generateName":"gen-","namespace":"ns","uid":"u-1","resourceVersion":"42",
        "generation":3,"creationTimestamp":"2023-11-14T22:13:20Z",
        "deletionTimestamp":"2023-11-14T22:13:50Z","deletionGracePeriodSeconds":0,
        "labels":{"app":"web","tier":""},"annotations":{"note":"x"},
        "ownerReferences":[{"kind":"ReplicaSet","name":"rs","uid":"u-2","apiVersion":"apps/v1",
            "controller":true,"blockOwnerDeletion":false}],
        "finalizers":["a/b","c/d"],
        "managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1",
            "time":"1970-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}]}}"#;
    assert_eq!(
        decoded(&envelope("v1", "ConfigMap", &raw)),
        canonical(expected)
    );
}

#[test]
fn secret_bytes_are_base64_and_string_data_is_text() {
    let mut e = Encoder::new();
    empty_meta(&mut e, "s");
    e.message(2, |d| {
        d.bytes(1, b"k").bytes(2, &[0, 0xff, 0x10]);
    });
    e.string(3, "Opaque")
        .map_entry(4, "plain", "text")
        .bool(5, false);
    let expected = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","creationTimestamp":null},
        "data":{"k":"AP8Q"},"type":"Opaque","stringData":{"plain":"text"},"immutable":false}"#;
    assert_eq!(
        decoded(&envelope("v1", "Secret", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn pointer_false_is_kept_and_omitempty_zero_is_dropped() {
    let mut e = Encoder::new();
    empty_meta(&mut e, "sa");
    e.bool(4, false);
    let expected = r#"{"apiVersion":"v1","kind":"ServiceAccount",
        "metadata":{"name":"sa","creationTimestamp":null},"automountServiceAccountToken":false}"#;
    assert_eq!(
        decoded(&envelope("v1", "ServiceAccount", &e.finish())),
        canonical(expected)
    );
}

/// A Deployment carrying the common PodSpec and Container fields.
#[test]
fn deployment_with_full_container() {
    let container = |c: &mut Encoder| {
        c.string(1, "app").string(2, "registry.local/app:v2");
        c.string(3, "/bin/app")
            .string(4, "--port")
            .string(4, "8080")
            .string(5, "/srv");
        c.message(6, |p| {
            p.string(1, "http")
                .int32(2, 0)
                .int32(3, 8080)
                .string(4, "TCP")
                .string(5, "");
        });
        c.message(7, |v| {
            v.string(1, "MODE").string(2, "prod");
        });
        c.message(7, |v| {
            v.string(1, "POD_IP").string(2, "").message(3, |src| {
                src.message(1, |f| {
                    f.string(1, "v1").string(2, "status.podIP");
                });
            });
        });
        c.message(8, |r| {
            r.message(1, |l| {
                l.string(1, "memory").message(2, |q| {
                    q.string(1, "128Mi");
                });
            });
            r.message(2, |l| {
                l.string(1, "cpu").message(2, |q| {
                    q.string(1, "100m");
                });
            });
        });
        c.message(9, |m| {
            m.string(1, "data")
                .bool(2, true)
                .string(3, "/data")
                .string(4, "");
        });
        c.message(10, |p| {
            p.message(1, |h| {
                h.message(2, |g| {
                    g.string(1, "/healthz").message(2, |port| {
                        port.int64(1, 1).int32(2, 0).string(3, "http");
                    });
                    g.string(3, "").string(4, "HTTP");
                });
            });
            p.int32(2, 5)
                .int32(3, 0)
                .int32(4, 10)
                .int32(5, 0)
                .int32(6, 3);
        });
        c.message(11, |p| {
            p.message(1, |h| {
                h.message(3, |t| {
                    t.message(1, |port| {
                        port.int64(1, 0).int32(2, 8080).string(3, "");
                    });
                });
            });
        });
        c.string(13, "/dev/termination-log")
            .string(14, "IfNotPresent");
        c.message(15, |s| {
            s.bool(2, false).int64(4, 1000).bool(5, true).bool(6, false);
            s.message(1, |caps| {
                caps.string(2, "ALL");
            });
        });
        c.bool(16, false)
            .bool(17, false)
            .bool(18, false)
            .string(20, "File");
    };
    let mut e = Encoder::new();
    empty_meta(&mut e, "app");
    e.message(2, |spec| {
        spec.int32(1, 2);
        spec.message(2, |sel| {
            sel.map_entry(1, "app", "app");
        });
        spec.message(3, |tmpl| {
            tmpl.message(1, |m| {
                m.string(1, "").bytes(8, &[]).map_entry(11, "app", "app");
            });
            tmpl.message(2, |pod| {
                pod.message(1, |v| {
                    v.string(1, "data").message(2, |src| {
                        src.message(2, |ed| {
                            ed.string(1, "");
                        });
                    });
                });
                pod.message(2, container);
                pod.string(3, "Always")
                    .int64(4, 30)
                    .string(6, "ClusterFirst");
                pod.map_entry(7, "kubernetes.io/arch", "arm64");
                pod.string(8, "default").bool(11, false);
                pod.message(14, |psc| {
                    psc.int64(2, 2000).bool(3, true).int64(4, 10).int64(4, 11);
                });
            });
        });
        spec.message(4, |st| {
            st.string(1, "RollingUpdate").message(2, |ru| {
                ru.message(1, |i| {
                    i.int64(1, 1).int32(2, 0).string(3, "25%");
                });
                ru.message(2, |i| {
                    i.int64(1, 0).int32(2, 1).string(3, "");
                });
            });
        });
        spec.int32(6, 10).bool(7, false).int32(9, 600);
    });
    e.message(3, |_| {});
    let expected = r#"{"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"app","creationTimestamp":null},
      "spec":{"replicas":2,"selector":{"matchLabels":{"app":"app"}},
        "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"app"}},
          "spec":{
            "volumes":[{"name":"data","emptyDir":{}}],
            "containers":[{"name":"app","image":"registry.local/app:v2",
              "command":["/bin/app"],"args":["--port","8080"],"workingDir":"/srv",
              "ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],
              "env":[{"name":"MODE","value":"prod"},
                     {"name":"POD_IP","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"status.podIP"}}}],
              "resources":{"limits":{"memory":"128Mi"},"requests":{"cpu":"100m"}},
              "volumeMounts":[{"name":"data","readOnly":true,"mountPath":"/data"}],
              "livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP"},
                "initialDelaySeconds":5,"periodSeconds":10,"failureThreshold":3},
              "readinessProbe":{"tcpSocket":{"port":8080}},
              "terminationMessagePath":"/dev/termination-log","imagePullPolicy":"IfNotPresent",
              "securityContext":{"capabilities":{"drop":["ALL"]},"privileged":false,
                "runAsUser":1000,"runAsNonRoot":true,"readOnlyRootFilesystem":false},
              "terminationMessagePolicy":"File"}],
            "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",
            "nodeSelector":{"kubernetes.io/arch":"arm64"},"serviceAccountName":"default",
            "securityContext":{"runAsUser":2000,"runAsNonRoot":true,"supplementalGroups":[10,11]}}},
        "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":1}},
        "revisionHistoryLimit":10,"progressDeadlineSeconds":600},
      "status":{}}"#;
    assert_eq!(
        decoded(&envelope("apps/v1", "Deployment", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn eviction_and_delete_options() {
    let delete_options = |d: &mut Encoder| {
        d.int64(1, 0).message(2, |p| {
            p.string(1, "uid-1");
        });
        d.string(4, "Background").string(5, "All");
    };
    let mut e = Encoder::new();
    empty_meta(&mut e, "web-1");
    e.message(2, delete_options);
    let expected = r#"{"apiVersion":"policy/v1","kind":"Eviction",
        "metadata":{"name":"web-1","creationTimestamp":null},
        "deleteOptions":{"gracePeriodSeconds":0,"preconditions":{"uid":"uid-1"},
          "propagationPolicy":"Background","dryRun":["All"]}}"#;
    assert_eq!(
        decoded(&envelope("policy/v1", "Eviction", &e.finish())),
        canonical(expected)
    );

    let mut e = Encoder::new();
    delete_options(&mut e);
    let expected = r#"{"apiVersion":"apps/v1","kind":"DeleteOptions","gracePeriodSeconds":0,
        "preconditions":{"uid":"uid-1"},"propagationPolicy":"Background","dryRun":["All"]}"#;
    assert_eq!(
        decoded(&envelope("apps/v1", "DeleteOptions", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn subject_access_review_extra_is_a_map_of_lists() {
    let mut e = Encoder::new();
    empty_meta(&mut e, "");
    e.message(2, |spec| {
        spec.message(2, |n| {
            n.string(1, "/healthz").string(2, "get");
        });
        spec.string(3, "alice").string(4, "devs");
        spec.message(5, |entry| {
            entry.string(1, "scopes").message(2, |list| {
                list.string(1, "a").string(1, "b");
            });
        });
        spec.string(6, "");
    });
    let expected = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
        "metadata":{"creationTimestamp":null},
        "spec":{"nonResourceAttributes":{"path":"/healthz","verb":"get"},"user":"alice",
          "groups":["devs"],"extra":{"scopes":["a","b"]}},"status":{"allowed":false}}"#;
    let body = envelope(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        &e.finish(),
    );
    assert_eq!(decoded(&body), canonical(expected));
}

/// What encoding/json writes for a Go value whose fields the wire left out.
#[test]
fn absent_fields_are_go_zero_values() {
    let expected =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"creationTimestamp":null}}"#;
    assert_eq!(
        decoded(&envelope("v1", "ConfigMap", &[])),
        canonical(expected)
    );

    let expected = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
        "metadata":{"creationTimestamp":null},"rules":null}"#;
    let body = envelope("rbac.authorization.k8s.io/v1", "ClusterRole", &[]);
    assert_eq!(decoded(&body), canonical(expected));

    let mut e = Encoder::new();
    e.message(2, |spec| {
        spec.message(1, |port| {
            port.string(1, "web");
        });
        spec.message(14, |ip| {
            ip.message(1, |_| {});
        });
    });
    let expected = r#"{"apiVersion":"v1","kind":"Service","metadata":{"creationTimestamp":null},
        "spec":{"ports":[{"name":"web","port":0,"targetPort":0}],
          "sessionAffinityConfig":{"clientIP":{}}},
        "status":{"loadBalancer":{}}}"#;
    assert_eq!(
        decoded(&envelope("v1", "Service", &e.finish())),
        canonical(expected)
    );

    let mut e = Encoder::new();
    e.map_entry(2, "k", "v").message(3, |entry| {
        entry.string(1, "nil");
    });
    let expected = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"creationTimestamp":null},
        "data":{"k":"v"},"binaryData":{"nil":null}}"#;
    assert_eq!(
        decoded(&envelope("v1", "ConfigMap", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn repeated_singular_fields_follow_protobuf_merge_rules() {
    let mut e = Encoder::new();
    e.message(1, |m| {
        m.string(1, "first").string(14, "f1");
    });
    e.message(1, |m| {
        m.string(3, "ns").string(14, "f2").string(1, "");
    });
    e.map_entry(2, "k", "old").map_entry(2, "k", "new");
    e.message(2, |entry| {
        entry.string(1, "nokey-value");
    });
    let expected = r#"{"apiVersion":"v1","kind":"ConfigMap",
        "metadata":{"namespace":"ns","finalizers":["f1","f2"],"creationTimestamp":null},
        "data":{"k":"new","nokey-value":""}}"#;
    assert_eq!(
        decoded(&envelope("v1", "ConfigMap", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn packed_and_unpacked_repeated_ints_are_equal() {
    let psc = |packed: bool| {
        let mut e = Encoder::new();
        e.message(2, |spec| {
            spec.message(14, |s| {
                if packed {
                    let mut p = Encoder::new();
                    p.raw_varint(10).raw_varint(u64::MAX);
                    s.bytes(4, &p.finish());
                } else {
                    s.int64(4, 10).int64(4, -1);
                }
            });
        });
        decoded(&envelope("v1", "Pod", &e.finish()))
    };
    let expected = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":null},
        "spec":{"containers":null,"securityContext":{"supplementalGroups":[10,-1]}},"status":{}}"#;
    assert_eq!(psc(true), canonical(expected));
    assert_eq!(psc(false), canonical(expected));
}

#[test]
fn unknown_fields_are_skipped_like_upstream() {
    let mut e = Encoder::new();
    empty_meta(&mut e, "x");
    e.string(999, "from a newer client").varint(1000, 7);
    let expected = r#"{"apiVersion":"v1","kind":"Namespace",
        "metadata":{"name":"x","creationTimestamp":null},"spec":{},"status":{}}"#;
    assert_eq!(
        decoded(&envelope("v1", "Namespace", &e.finish())),
        canonical(expected)
    );
}

#[test]
fn unsupported_kinds_and_encodings_are_415() {
    let err = decode_to_json(&envelope("v1", "Widget", &[])).unwrap_err();
    assert_eq!(
        err,
        ProtobufError::UnsupportedKind {
            api_version: "v1".to_owned(),
            kind: "Widget".to_owned()
        }
    );
    assert_eq!(err.http_status(), 415);
    assert!(err.to_string().contains("Widget"));
    // a known kind under a group version it does not belong to
    assert!(matches!(
        decode_to_json(&envelope("apps/v1", "ConfigMap", &[])),
        Err(ProtobufError::UnsupportedKind { .. })
    ));

    let mut e = Encoder::new();
    e.message(1, |t| {
        t.string(1, "v1").string(2, "ConfigMap");
    })
    .bytes(2, &[])
    .string(3, "gzip");
    let mut body = MAGIC.to_vec();
    body.extend(e.finish());
    let err = decode_to_json(&body).unwrap_err();
    assert!(matches!(err, ProtobufError::UnsupportedEncoding { .. }));
    assert_eq!(err.http_status(), 415);
}

#[test]
fn envelope_errors() {
    assert_eq!(decode_to_json(b"").err(), Some(ProtobufError::MissingMagic));
    assert_eq!(
        decode_to_json(br#"{"kind":"ConfigMap"}"#).err(),
        Some(ProtobufError::MissingMagic)
    );
    assert_eq!(
        decode_to_json(MAGIC).err(),
        Some(ProtobufError::MissingKind)
    );
    let big = vec![0u8; MAX_BODY_BYTES + 1];
    assert_eq!(
        decode_to_json(&big).err(),
        Some(ProtobufError::BodyTooLarge {
            len: MAX_BODY_BYTES + 1
        })
    );
    assert_eq!(decode_to_json(&big).unwrap_err().http_status(), 413);
}

/// Every prefix of every captured body must decode or fail cleanly, never panic.
#[test]
fn truncated_bodies_fail_cleanly() {
    for (name, body, _) in CAPTURED {
        for cut in 0..body.len() {
            if let Ok(value) = decode_to_json(&body[..cut]) {
                // a cut at a field boundary of the envelope can still be a valid message
                assert!(matches!(value, Value::Object(_)), "{name} cut at {cut}");
            }
        }
    }
}

#[test]
fn every_single_byte_corruption_fails_cleanly() {
    let (_, body, _) = CAPTURED
        .iter()
        .find(|(n, _, _)| *n == "deployment")
        .unwrap();
    for at in 4..body.len() {
        for byte in [0x00, 0x07, 0x0b, 0x7f, 0x80, 0xff] {
            let mut corrupt = body.to_vec();
            corrupt[at] = byte;
            let _ = decode_to_json(&corrupt);
        }
    }
}

#[test]
fn wrong_wire_types_are_errors() {
    let mut e = Encoder::new();
    e.varint(1, 5); // metadata must be length-delimited
    let err = decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).unwrap_err();
    assert_eq!(
        err,
        ProtobufError::WrongWireType {
            field: "metadata",
            wire_type: 0
        }
    );

    let mut e = Encoder::new();
    e.message(1, |m| {
        m.string(7, "not a number"); // generation is a varint
    });
    let err = decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).unwrap_err();
    assert_eq!(
        err,
        ProtobufError::WrongWireType {
            field: "generation",
            wire_type: 2
        }
    );

    let mut e = Encoder::new();
    e.double(4, 1.0); // immutable is a bool
    let err = decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).unwrap_err();
    assert_eq!(
        err,
        ProtobufError::WrongWireType {
            field: "immutable",
            wire_type: 1
        }
    );
}

#[test]
fn garbage_after_the_envelope_is_an_error() {
    let (_, body, _) = CAPTURED[0];
    for garbage in [&[0xff][..], &[0x0b, 0x00], &[0x12, 0x05, 0x01], &[0x80]] {
        let mut bad = body.to_vec();
        bad.extend_from_slice(garbage);
        assert!(decode_to_json(&bad).is_err(), "garbage {garbage:?}");
    }
}

#[test]
fn huge_declared_lengths_are_refused() {
    let mut body = MAGIC.to_vec();
    // field 2 (raw) claiming 2^62 bytes
    body.extend([0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    assert_eq!(decode_to_json(&body).err(), Some(ProtobufError::Truncated));
    let mut e = Encoder::new();
    e.key(1, 2).raw_varint(u64::from(u32::MAX));
    assert_eq!(
        decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).err(),
        Some(ProtobufError::Truncated)
    );
}

/// Deep nesting through unknown fields is skipped without recursion; through known fields
/// it is bounded by the schema, whose deepest path stays well under [`MAX_DEPTH`].
#[test]
fn deep_nesting_is_bounded() {
    let mut inner = Vec::new();
    for _ in 0..10_000 {
        let mut e = Encoder::new();
        e.bytes(15, &inner);
        inner = e.finish();
        if inner.len() > MAX_BODY_BYTES / 2 {
            break;
        }
    }
    let mut e = Encoder::new();
    e.bytes(1, &inner);
    assert!(decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).is_ok());

    fn depth(id: schema::MessageId) -> usize {
        let nested = schema::message(id).fields().iter().map(|f| match f.kind {
            schema::Kind::Inline(inner) | schema::Kind::Single(schema::Elem::Message(inner)) => {
                depth(inner)
            }
            schema::Kind::Repeated(schema::Elem::Message(inner))
            | schema::Kind::Map(schema::Elem::Message(inner)) => depth(inner),
            _ => 1,
        });
        1 + nested.max().unwrap_or(0)
    }
    let deepest = schema_table::TOP_KINDS
        .iter()
        .map(|top| depth(top.message))
        .max()
        .unwrap();
    assert!(deepest < MAX_DEPTH, "schema depth {deepest}");

    let mut transcoder = transcode::Transcoder::new(MAX_OUTPUT_BYTES);
    let message = schema::lookup("v1", "ConfigMap").unwrap();
    let mut out = miniserde::json::Object::new();
    let err = transcoder.message_into(message, &[], &mut out, MAX_DEPTH + 1);
    assert_eq!(err, Err(ProtobufError::TooDeep));
}

#[test]
fn tiny_fields_cannot_expand_without_bound() {
    // 1.5 million empty ownerReferences: 3 MiB in, far more than the budget out
    let mut raw = Vec::with_capacity(MAX_BODY_BYTES);
    let mut meta = Vec::with_capacity(MAX_BODY_BYTES);
    while meta.len() + 2 < MAX_BODY_BYTES - 64 {
        meta.extend([0x6a, 0x00]);
    }
    let mut e = Encoder::new();
    e.bytes(1, &meta);
    raw.extend(e.finish());
    let body = envelope("v1", "ConfigMap", &raw);
    assert!(body.len() <= MAX_BODY_BYTES);
    assert_eq!(
        decode_to_json(&body).err(),
        Some(ProtobufError::OutputTooLarge)
    );
}

#[test]
fn large_legitimate_objects_fit_the_budget() {
    // a ConfigMap of 20,000 keys and a Secret of 2 MiB: large but real
    let mut e = Encoder::new();
    empty_meta(&mut e, "big");
    for i in 0..20_000 {
        e.map_entry(2, &format!("key-{i}"), "value");
    }
    let value = decode_to_json(&envelope("v1", "ConfigMap", &e.finish())).unwrap();
    let Value::Object(object) = value else {
        panic!("not an object")
    };
    let Some(Value::Object(data)) = object.get("data") else {
        panic!("no data")
    };
    assert_eq!(data.len(), 20_000);

    let mut e = Encoder::new();
    empty_meta(&mut e, "blob");
    e.message(2, |entry| {
        entry
            .string(1, "blob")
            .bytes(2, &vec![0xa5; 2 * 1024 * 1024]);
    });
    assert!(decode_to_json(&envelope("v1", "Secret", &e.finish())).is_ok());
}

#[test]
fn deeply_nested_raw_json_does_not_overflow_the_stack() {
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut e = Encoder::new();
    e.message(1, |m| {
        m.message(17, |f| {
            f.message(7, |r| {
                r.bytes(1, nested.as_bytes());
            });
        });
    });
    // miniserde parses and drops without recursion; either outcome is fine, a crash is not
    let _ = decode_to_json(&envelope("v1", "ConfigMap", &e.finish()));
}
