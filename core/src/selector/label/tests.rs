//! Grammar, validation and matching of label selectors, string and structured.

use super::*;
use crate::patch::value::parse as json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sel(text: &str) -> LabelSelector {
    LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> String {
    LabelSelector::parse(text).unwrap_err().to_string()
}

#[test]
fn every_operator_of_the_grammar() {
    let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
    let cases = [
        ("app=web", true),
        ("app==web", true),
        ("app!=web", false),
        ("app!=db", true),
        ("missing!=x", true),
        ("app in (db,web)", true),
        ("app in (db)", false),
        ("app notin (db)", true),
        ("missing notin (db)", true),
        ("app notin (web,db)", false),
        ("app", true),
        ("!app", false),
        ("!missing", true),
        ("missing", false),
        ("n>4", true),
        ("n<5", false),
        ("missing>1", false),
        ("app=web,tier=front", true),
        ("app=web,tier=back", false),
        ("  app = web , tier in ( front ) ", true),
        ("", true),
    ];
    for (text, expected) in cases {
        assert_eq!(sel(text).matches(&l), expected, "{text}");
    }
}

#[test]
fn in_and_notin_are_values_inside_parentheses() {
    let s = sel("x in (in,notin)");
    assert_eq!(s.requirements()[0].values(), ["in", "notin"]);
    assert!(s.matches(&labels(&[("x", "notin")])));
}

#[test]
fn empty_values_and_sets() {
    assert!(sel("a=").matches(&labels(&[("a", "")])));
    assert_eq!(
        sel("x in (a,,b)").requirements()[0].values(),
        ["", "a", "b"]
    );
    assert_eq!(sel("x in ()").requirements()[0].values(), [""]);
    assert_eq!(sel("x in (,a)").requirements()[0].values(), ["", "a"]);
}

#[test]
fn canonical_string_is_sorted_and_reparses() {
    let s = sel("z!=1,a in (y,x),!b,c");
    assert_eq!(s.to_string(), "a in (x,y),!b,c,z!=1");
    assert_eq!(sel(&s.to_string()), s);
}

#[test]
fn grammar_errors_match_upstream() {
    assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
    assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
    assert_eq!(
        err(",a"),
        "found ',', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        err("a b"),
        "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"
    );
    assert_eq!(
        err("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        err("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        err("a in (="),
        "unable to parse requirement: found '=', expected: ',', ')' or identifier"
    );
    assert_eq!(
        err("!=a"),
        "found '!=', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        err("!,a"),
        "unable to parse requirement: found ',', expected: identifier"
    );
    assert_eq!(
        err("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
}

#[test]
fn key_and_value_validation_match_upstream() {
    assert_eq!(
        err("-a=b"),
        "unable to parse requirement: key: Invalid value: \"-a\": name part must consist of \
         alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
         character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
         '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
    let long = "v".repeat(64);
    assert_eq!(
        err(&format!("a={long}")),
        format!(
            "unable to parse requirement: values[0][a]: Invalid value: \"{long}\": must be no more than 63 characters"
        )
    );
    assert!(err("a>b").contains("for 'Gt', 'Lt' operators, the value must be an integer"));
    assert!(err("example.com/a/b").contains("a qualified name"));
    assert!(LabelSelector::parse("example.com/app=x,kubernetes.io/os=linux").is_ok());
}

#[test]
fn structured_selectors_become_the_same_requirements() {
    let structured = json(
        r#"{"matchLabels":{"app":"web"},"matchExpressions":[
            {"key":"tier","operator":"In","values":["front","edge"]},
            {"key":"legacy","operator":"DoesNotExist"}]}"#,
    )
    .unwrap();
    let from_value = LabelSelector::from_structured(Some(&structured)).unwrap();
    assert_eq!(from_value, sel("app=web,tier in (edge,front),!legacy"));
    assert!(from_value.matches(&labels(&[("app", "web"), ("tier", "edge")])));
}

#[test]
fn structured_edge_cases() {
    assert!(
        !LabelSelector::from_structured(None)
            .unwrap()
            .matches(&labels(&[]))
    );
    assert!(
        !LabelSelector::from_structured(Some(&Value::Null))
            .unwrap()
            .matches(&labels(&[]))
    );
    let empty = json("{}").unwrap();
    assert!(
        LabelSelector::from_structured(Some(&empty))
            .unwrap()
            .is_everything()
    );
    let bad_op = json(r#"{"matchExpressions":[{"key":"a","operator":"Matches"}]}"#).unwrap();
    assert_eq!(
        LabelSelector::from_structured(Some(&bad_op))
            .unwrap_err()
            .to_string(),
        "\"Matches\" is not a valid label selector operator"
    );
    let empty_in =
        json(r#"{"matchExpressions":[{"key":"a","operator":"In","values":[]}]}"#).unwrap();
    assert_eq!(
        LabelSelector::from_structured(Some(&empty_in))
            .unwrap_err()
            .to_string(),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    let exists_values =
        json(r#"{"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}"#).unwrap();
    assert!(LabelSelector::from_structured(Some(&exists_values)).is_err());
}

#[test]
fn labels_from_json_objects() {
    let Some(Value::Object(object_labels)) = json(r#"{"app":"web","n":1}"#) else {
        panic!("object expected");
    };
    assert!(sel("app=web").matches(&object_labels));
    assert!(!sel("n").matches(&object_labels));
    let slice: &[(&str, &str)] = &[("app", "web")];
    assert!(sel("app in (web)").matches(slice));
}

#[test]
fn whole_objects_match_by_metadata_labels() {
    let pod = json(r#"{"metadata":{"name":"p","labels":{"app":"web"}}}"#).unwrap();
    let bare = json(r#"{"metadata":{"name":"q"}}"#).unwrap();
    assert!(sel("app=web").matches_object(&pod));
    assert!(!sel("app=web").matches_object(&bare));
    assert!(sel("!app").matches_object(&bare));
    assert!(sel("").matches_object(&bare));
    assert!(!LabelSelector::nothing().matches_object(&pod));
}

mod properties {
    use super::*;
    use crate::selector::field::FieldSelector;
    use proptest::prelude::*;

    proptest! {
        // Hostile query strings never panic either parser.
        #[test]
        fn parsers_never_panic(text in "[a-z0-9 =!(),<>.\\\\/_-]{0,40}") {
            let _ = LabelSelector::parse(&text);
            let _ = FieldSelector::parse(&text);
        }

        // The canonical form parses back to the same selector.
        #[test]
        fn display_round_trips(text in "[ab]{1,2}(=|==|!=| in | notin )?(\\(?[xy]{0,2}(,[xy])?\\)?)?(,!?[cd])?") {
            if let Ok(selector) = LabelSelector::parse(&text) {
                let again = LabelSelector::parse(&selector.to_string()).unwrap();
                prop_assert_eq!(again, selector);
            }
        }
    }
}
