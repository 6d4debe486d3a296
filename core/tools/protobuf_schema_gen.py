#!/usr/bin/env python3
"""Derive wisp's protobuf schema table from upstream generated.proto + types.go.

Facts taken: field numbers and proto types (generated.proto), JSON names, omitempty,
pointer-ness and inlining (the Go struct tags in types.go). Output: Rust source on stdout.
Usage (clones or mirrors of github.com/kubernetes/api and kubernetes/apimachinery):
  core/tools/protobuf_schema_gen.py <api-git-dir> <apimachinery-git-dir> [tag] \
      > core/src/protobuf/schema_table.rs
The tag defaults to v0.36.3 (Kubernetes 1.36.3): field numbers never change meaning, so a
newer release is a superset of what kubectl 1.32 sends. Files are read with `git show`, so
the clones need no checkout.
Only this script's output is compiled; it is kept so the table can be regenerated.
"""
import re
import subprocess
import sys

API_GIT, APIMACHINERY_GIT = sys.argv[1], sys.argv[2]
TAG = sys.argv[3] if len(sys.argv) > 3 else "v0.36.3"


def read(path, name):
    """A file of a package at TAG; `am/` paths are apimachinery's pkg/apis/."""
    if path.startswith("am/"):
        repo, path = APIMACHINERY_GIT, "pkg/apis/" + path[3:]
    else:
        repo, path = API_GIT, path[4:]
    return subprocess.run(["git", "-C", repo, "show", f"{TAG}:{path}/{name}"],
                          check=True, capture_output=True, text=True).stdout

PACKAGES = {
    "k8s.io.api.core.v1": "api/core/v1",
    "k8s.io.api.apps.v1": "api/apps/v1",
    "k8s.io.api.batch.v1": "api/batch/v1",
    "k8s.io.api.rbac.v1": "api/rbac/v1",
    "k8s.io.api.scheduling.v1": "api/scheduling/v1",
    "k8s.io.api.authorization.v1": "api/authorization/v1",
    "k8s.io.api.authentication.v1": "api/authentication/v1",
    "k8s.io.api.policy.v1": "api/policy/v1",
    "k8s.io.api.networking.v1": "api/networking/v1",
    "k8s.io.apimachinery.pkg.apis.meta.v1": "am/meta/v1",
}

# Messages whose JSON form is not "an object of its fields": handled by the decoder.
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    # Duration is not reachable from today's kinds: Elem has no variant for it, so adding a kind
    # that reaches it fails to compile until the decoder learns it.
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
}

# (apiVersion, kind, message) served to kubectl's typed clients.
KINDS = [
    ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
    ("v1", "Secret", "k8s.io.api.core.v1.Secret"),
    ("v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
    ("v1", "ServiceAccount", "k8s.io.api.core.v1.ServiceAccount"),
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("v1", "ResourceQuota", "k8s.io.api.core.v1.ResourceQuota"),
    ("v1", "Pod", "k8s.io.api.core.v1.Pod"),
    ("v1", "Binding", "k8s.io.api.core.v1.Binding"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("batch/v1", "Job", "k8s.io.api.batch.v1.Job"),
    ("batch/v1", "CronJob", "k8s.io.api.batch.v1.CronJob"),
    ("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "k8s.io.api.rbac.v1.RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "k8s.io.api.rbac.v1.ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "k8s.io.api.rbac.v1.ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass", "k8s.io.api.scheduling.v1.PriorityClass"),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview", "k8s.io.api.authorization.v1.SelfSubjectAccessReview"),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview", "k8s.io.api.authorization.v1.SelfSubjectRulesReview"),
    ("authorization.k8s.io/v1", "SubjectAccessReview", "k8s.io.api.authorization.v1.SubjectAccessReview"),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview", "k8s.io.api.authorization.v1.LocalSubjectAccessReview"),
    ("authentication.k8s.io/v1", "TokenRequest", "k8s.io.api.authentication.v1.TokenRequest"),
    ("authentication.k8s.io/v1", "TokenReview", "k8s.io.api.authentication.v1.TokenReview"),
    ("authentication.k8s.io/v1", "SelfSubjectReview", "k8s.io.api.authentication.v1.SelfSubjectReview"),
    ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
    ("policy/v1", "PodDisruptionBudget", "k8s.io.api.policy.v1.PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress", "k8s.io.api.networking.v1.Ingress"),
    # DeleteOptions is registered in every group version: matched on kind alone.
    ("*", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
]

FIELD_RE = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
MAP_RE = re.compile(r"^\s*map<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(pkg, path):
    msgs = {}
    cur = None
    for line in read(path, "generated.proto").splitlines():
        line = line.split("//")[0]
        m = re.match(r"^message (\w+) \{", line)
        if m:
            cur = pkg + "." + m.group(1)
            msgs[cur] = []
            continue
        if line.startswith("}"):
            cur = None
            continue
        if cur is None:
            continue
        m = MAP_RE.match(line)
        if m:
            k, v, name, num = m.groups()
            assert k == "string", line
            msgs[cur].append(dict(label="map", type=v, name=name, num=int(num)))
            continue
        m = FIELD_RE.match(line)
        if m:
            label, typ, name, num = m.groups()
            msgs[cur].append(dict(label=label, type=typ, name=name, num=int(num)))
        elif line.strip():
            raise SystemExit(f"unparsed proto line in {cur}: {line!r}")
    return msgs


GO_FIELD_RE = re.compile(r"^\t(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`")


def parse_go(path):
    """struct name -> {proto number: (go type, json name, omitempty, inline)}"""
    structs = {}
    slices = set()
    cur = None
    for line in read(path, "types.go").splitlines():
        m = re.match(r"^type (\w+) \[\]string$", line)
        if m:
            slices.add(m.group(1))
        m = re.match(r"^type (\w+) struct \{", line)
        if m:
            cur = m.group(1)
            structs[cur] = {}
            continue
        if line.startswith("}"):
            cur = None
            continue
        if cur is None:
            continue
        m = GO_FIELD_RE.match(line)
        if not m:
            continue
        name, gotype, tags = m.groups()
        pm = re.search(r'protobuf:"([^"]*)"', tags)
        jm = re.search(r'json:"([^"]*)"', tags)
        if not pm:
            continue
        parts = pm.group(1).split(",")
        num = int(parts[1])
        jparts = (jm.group(1) if jm else "").split(",")
        jname = jparts[0]
        inline = "inline" in jparts[1:] or (name is None and jname == "")
        omitempty = "omitempty" in jparts[1:]
        structs[cur][num] = (gotype, jname, omitempty, inline)
    return structs, slices


def presence_of(f, kind, gotype, omitempty, inline):
    """How encoding/json treats the field when the decoded Go value is zero or nil."""
    pointer = gotype.startswith("*")
    container = f["label"] in ("map", "repeated")
    plain_scalar = f["label"] == "optional" and f["type"] in SCALARS
    if pointer:
        return "Presence::Keep"
    if inline:
        return "Presence::ZeroIfAbsent"
    if plain_scalar and f["type"] == "bytes":
        # a nil []byte is null without omitempty; an empty one is "" (or omitted)
        return "Presence::OmitZero" if omitempty else "Presence::NullIfAbsent"
    if container:
        # nil slice/map: omitted with omitempty, else written as null
        return "Presence::Keep" if omitempty else "Presence::NullIfAbsent"
    if plain_scalar:
        return "Presence::OmitZero" if omitempty else "Presence::ZeroIfAbsent"
    # a non-pointer struct: encoding/json never omits it, omitempty or not
    return "Presence::ZeroIfAbsent"


SCALARS = {"string", "int32", "int64", "bool", "double", "bytes"}


def qualify(pkg, typ):
    typ = typ.lstrip(".")
    if "." in typ:
        return typ
    return pkg + "." + typ


def main():
    protos = {}
    gos = {}
    slices = set()
    for pkg, path in PACKAGES.items():
        protos.update(parse_proto(pkg, path))
        st, sl = parse_go(path)
        for s, fields in st.items():
            gos[pkg + "." + s] = fields
        for s in sl:
            slices.add(pkg + "." + s)

    needed = []
    seen = set()

    def visit(full):
        if full in SPECIAL or full in seen:
            return
        if full in slices:
            return
        seen.add(full)
        if full not in protos:
            raise SystemExit(f"missing message {full}")
        pkg = full.rsplit(".", 1)[0]
        for f in protos[full]:
            t = qualify(pkg, f["type"]) if f["type"][0].isupper() or "." in f["type"] else None
            if t:
                visit(t)
        needed.append(full)

    for _, _, msg in KINDS:
        visit(msg)

    def ident(full):
        pkg, name = full.rsplit(".", 1)
        short = pkg.replace("k8s.io.api.", "").replace("k8s.io.apimachinery.pkg.apis.", "")
        short = short.replace(".", "_")
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
        snake = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", snake)
        return (short + "_" + snake).upper()

    elems = {"string": "Elem::Str", "int32": "Elem::I32", "int64": "Elem::I64",
             "bool": "Elem::Bool", "double": "Elem::F64", "bytes": "Elem::Bytes"}

    def elem_of(pkg, typ):
        if typ in elems:
            return elems[typ]
        full = qualify(pkg, typ)
        if full in SPECIAL:
            return "Elem::" + SPECIAL[full]
        if full in slices:
            return "Elem::StringList"
        return f"Elem::Message({ident(full)})"

    # One text holding every name; a Name is (offset, length) into it.
    text = []
    spans = {}

    def name(value):
        if value not in spans:
            offset = sum(len(t) for t in text)
            assert offset < 65536 and len(value) < 256, value
            spans[value] = f"Name({offset}, {len(value)})"
            text.append(value)
        return spans[value]

    message_ids = {full: i for i, full in enumerate(needed)}
    field_lines = []
    message_lines = []
    for full in needed:
        pkg = full.rsplit(".", 1)[0]
        go = gos.get(full)
        if go is None:
            raise SystemExit(f"no Go struct for {full}")
        first = len(field_lines)
        short_name = full.rsplit(".", 1)[1]
        field_lines.append(f"    // {ident(full)} = {message_ids[full]}")
        count = 0
        for f in sorted(protos[full], key=lambda f: f["num"]):
            g = go.get(f["num"])
            if g is None:
                raise SystemExit(f"no Go field for {full} #{f['num']} {f['name']}")
            gotype, jname, omitempty, inline = g
            assert f["num"] < 65536
            elem = elem_of(pkg, f["type"])
            if inline:
                assert f["label"] == "optional" and elem.startswith("Elem::Message("), (full, f)
                kind = "Kind::Inline(" + elem[len("Elem::Message("):]
                jname = ""
            elif f["label"] == "map":
                kind = f"Kind::Map({elem})"
            elif f["label"] == "repeated":
                kind = f"Kind::Repeated({elem})"
            else:
                kind = f"Kind::Single({elem})"
            presence = presence_of(f, kind, gotype, omitempty, inline).replace("Presence::", "")
            comment = jname or "(inline)"
            field_lines.append(
                f"    Field {{ number: {f['num']}, json: {name(jname)}, kind: {kind}, presence: {presence} }}, // {comment}")
            count += 1
        index = len(field_lines) - first - 1
        start = sum(1 for line in field_lines[:first] if not line.lstrip().startswith("//"))
        message_lines.append(
            f"    Message {{ name: {name(short_name)}, first: {start}, len: {count} }}, // {ident(full)}")
        assert index == count

    out = []
    w = out.append
    w("//! The generated schema table: see `schema.rs` for what each entry means.")
    w("")
    w("// @generated by core/tools/protobuf_schema_gen.py from kubernetes/api and")
    w(f"// kubernetes/apimachinery {TAG}")
    w("// (generated.proto field numbers and types, types.go JSON tags). Do not edit by hand.")
    w("")
    w("use super::schema::{Elem, Field, Kind, Message, MessageId, Name, TopKind};")
    w("use super::schema::Presence::{Keep, NullIfAbsent, OmitZero, ZeroIfAbsent};")
    w("")
    for full in needed:
        w(f"pub(super) const {ident(full)}: MessageId = MessageId({message_ids[full]});")
    w("")
    w("/// Every message, indexed by [`MessageId`]; its fields are `FIELDS[first..first + len]`.")
    w(f"pub(super) static MESSAGES: [Message; {len(needed)}] = [")
    out.extend(message_lines)
    w("];")
    w("")
    nfields = sum(1 for line in field_lines if not line.lstrip().startswith("//"))
    w("/// Every field of every message, grouped by message and sorted by number within each.")
    w(f"pub(super) static FIELDS: [Field; {nfields}] = [")
    out.extend(field_lines)
    w("];")
    w("")
    w("pub(super) static TOP_KINDS: &[TopKind] = &[")
    for av, k, msg in KINDS:
        w(f'    TopKind {{ api_version: "{av}", kind: "{k}", message: {ident(msg)} }},')
    w("];")
    w("")
    w("/// The text every [`Name`] indexes into.")
    w("pub(super) static NAME_TEXT: &str = concat!(")
    line = ""
    for t in text:
        piece = f'"{t}", '
        if len(line) + len(piece) > 90:
            w("    " + line.rstrip())
            line = ""
        line += piece
    if line:
        w("    " + line.rstrip())
    w(");")
    print("\n".join(out))
    print(f"messages={len(needed)} fields={nfields} names={len(text)} text={sum(map(len, text))}", file=sys.stderr)

main()
