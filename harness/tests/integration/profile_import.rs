//! `profile import` and `profile show` on the XML profiles of `corpus/profiles/`: every one
//! imports, its YAML loads back as a target profile, the structure is what the XML says, and
//! every construct left out is a note naming file, line and element.

use crate::support::{run, stderr, stdout, workspace};
use hl7_harness::profile::message::{Binding, Constraint, ElementSpec, MessageProfile};
use hl7_harness::profile::TargetProfile;
use std::path::PathBuf;

/// The corpus profiles: (XML file, notes it must give, each as `file:line: <Element>` text).
fn corpus_profiles() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "corpus/profiles/handwritten/hl7v2x/ADT_A04.xml",
            vec![
                "ADT_A04.xml:13: <DynamicDef> (AccAck=NE AppAck=AL MsgAckMode=Immediate) not supported: dropped",
                "ADT_A04.xml:23: <Component> usage C: predicate not read (free text): read as O",
                "ADT_A04.xml:66: <Field> length 0 read as no length limit",
            ],
        ),
        (
            "corpus/profiles/handwritten/nist/Profile.xml",
            vec![
                "Constraints.xml:28: <Predicate> predicate in a Group context not supported: dropped",
                "Constraints.xml:56: <Constraint> statement pid-forall on PID: <FORALL> is not supported: dropped",
                "ValueSetBindings.xml:15: <ValueSetBinding> binding on Segment OBX_EX 3 matches no element",
            ],
        ),
        (
            "corpus/profiles/nist-v2-validation-oru-r01/Profile.xml",
            vec!["Constraints.xml:15: <Predicate> predicate on HD 1"],
        ),
        (
            "corpus/profiles/nist-v2-validation-base-oru-r01/Profile.xml",
            vec!["Profile.xml:15: <Encoding> encoding \"XML\" not supported"],
        ),
        (
            "corpus/profiles/nist-hit-core-test-vxu/Profile.xml",
            vec![
                "<SingleCodeBindings> single-code bindings not supported: dropped",
            ],
        ),
    ]
}

fn temp_yaml(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7h-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Imports `xml` with the binary and loads the written YAML as `run` would.
fn import(xml: &str, name: &str) -> (TargetProfile, String) {
    let out = temp_yaml(name);
    let output = run(&["profile", "import", xml, "-o", out.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0), "{xml}: {}", stderr(&output));
    let loaded = hl7_harness::scenario::load_profile(&out)
        .unwrap_or_else(|e| panic!("{xml}: the imported YAML does not load: {e}"));
    ((*loaded.profile).clone(), stderr(&output))
}

#[test]
fn every_corpus_profile_imports_loads_back_and_notes_what_it_drops() {
    for (i, (xml, expected)) in corpus_profiles().into_iter().enumerate() {
        let (profile, notes) = import(xml, &format!("corpus-{i}.yaml"));
        assert!(!profile.message_profiles.is_empty(), "{xml}");
        for note in expected {
            assert!(notes.contains(note), "{xml}: no note {note:?} in:\n{notes}");
        }
        for line in notes.lines() {
            assert!(line.starts_with("hl7-harness: note: "), "{xml}: {line}");
            let rest = &line["hl7-harness: note: ".len()..];
            let (place, text) = rest.split_once(": <").expect("file:line: <Element>");
            assert!(place.rsplit(':').next().is_some_and(|n| n.parse::<u32>().is_ok()), "{line}");
            assert!(text.contains('>'), "{line}");
        }
    }
}

fn segment<'a>(tree: &'a [ElementSpec], id: &str) -> &'a ElementSpec {
    let mut stack: Vec<&ElementSpec> = tree.iter().collect();
    while let Some(e) = stack.pop() {
        if e.segment.as_deref() == Some(id) {
            return e;
        }
        stack.extend(e.elements.iter());
    }
    panic!("no segment {id}")
}

fn field(segment: &ElementSpec, position: u16) -> &Constraint {
    segment.fields.iter().find(|f| f.position == Some(position)).expect("field")
}

fn component(field: &Constraint, position: u16) -> &Constraint {
    field.components.iter().find(|c| c.position == Some(position)).expect("component")
}

fn only_message(profile: &TargetProfile) -> &MessageProfile {
    assert_eq!(profile.message_profiles.len(), 1);
    &profile.message_profiles[0]
}

#[test]
fn an_hl7v2x_profile_reads_as_written() {
    let (profile, _) = import("corpus/profiles/handwritten/hl7v2x/ADT_A04.xml", "v2x.yaml");
    let message = only_message(&profile);
    assert_eq!(message.message.to_string(), "ADT^A04");
    assert_eq!(message.structure.as_deref(), Some("ADT_A01"));
    assert_eq!(message.version.as_deref(), Some("2.6"));
    let tree = message.segments.as_deref().expect("tree");
    let msh = segment(tree, "MSH");
    assert_eq!(field(msh, 1).fixed.as_deref(), Some("|"));
    assert_eq!(
        component(field(msh, 3), 2).predicate.as_ref().map(|p| p.text.as_str()),
        Some("MSH-3.3 is valued")
    );
    // Free text that is not a predicate: the most permissive reading, O.
    assert_eq!(component(field(msh, 3), 3).usage.map(|u| u.to_string()).as_deref(), Some("O"));
    let pid = segment(tree, "PID");
    assert_eq!(field(pid, 3).cardinality.map(|c| c.to_string()).as_deref(), Some("1..*"));
    assert_eq!(field(pid, 7).usage.map(|u| u.to_string()).as_deref(), Some("C"));
    assert_eq!(field(pid, 7).predicate.as_ref().map(|p| p.text.as_str()), Some("PID-8 is valued"));
    assert_eq!(field(pid, 8).value_set.as_deref(), Some("HL70001"));
    assert_eq!(field(pid, 5).components[0].components[0].name.as_deref(), Some("Surname"));
    let visit = tree.iter().find(|e| e.group.as_deref() == Some("VISIT")).expect("group");
    assert_eq!(visit.elements[0].segment.as_deref(), Some("PV1"));
}

#[test]
fn a_nist_export_reads_with_its_companion_files() {
    let (profile, _) = import("corpus/profiles/handwritten/nist/Profile.xml", "nist.yaml");
    let message = only_message(&profile);
    let tree = message.segments.as_deref().expect("tree");
    let pid = segment(tree, "PID");
    // Inline binding to a set of the library: the excluded code (Usage="E") is left out.
    assert_eq!(field(pid, 8).value_set.as_deref(), Some("HL70001_EX"));
    assert_eq!(profile.value_sets["HL70001_EX"].codes, ["F", "M", "U"]);
    // A binding from ValueSetBindings.xml on a data type; an open set binds as suggested.
    assert_eq!(component(field(pid, 3), 2).value_set.as_deref(), Some("HL70203_EX"));
    assert_eq!(component(field(pid, 3), 2).binding, Some(Binding::Suggested));
    // A segment predicate and a data type predicate, placed where the flavour is used.
    assert_eq!(field(pid, 7).usage.map(|u| u.to_string()).as_deref(), Some("C(R/RE)"));
    assert_eq!(field(pid, 7).predicate.as_ref().map(|p| p.text.as_str()), Some("PID-8 = \"F\""));
    let msh = segment(tree, "MSH");
    assert_eq!(
        component(field(msh, 4), 1).predicate.as_ref().map(|p| p.text.as_str()),
        Some("not (MSH-4.2 is valued)")
    );
    // The DTM format statement becomes a pattern on every DTM.
    assert!(component(field(pid, 7), 1).pattern.is_some());
    // Group names lose their structure prefix; segment statements become message statements.
    assert!(tree.iter().any(|e| e.group.as_deref() == Some("ORDER_OBSERVATION")));
    let ids: Vec<&str> = message.statements.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["msh-version", "pid-sex", "obx-1"]);
    // A statement on a segment that repeats holds for each occurrence.
    let each: Vec<Option<&str>> = message.statements.iter().map(|s| s.each.as_deref()).collect();
    assert_eq!(each, [None, None, Some("OBX")]);
}

#[test]
fn strict_makes_any_note_an_error_and_writes_nothing() {
    let out = temp_yaml("strict.yaml");
    let _ = std::fs::remove_file(&out);
    let xml = "corpus/profiles/handwritten/hl7v2x/ADT_A04.xml";
    let output = run(&["profile", "import", xml, "--strict", "-o", out.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--strict"));
    assert!(!out.exists());
}

#[test]
fn import_writes_to_stdout_with_the_notes_as_comments() {
    let output = run(&["profile", "import", "corpus/profiles/handwritten/hl7v2x/ADT_A04.xml"]);
    assert_eq!(output.status.code(), Some(0));
    let yaml = stdout(&output);
    assert!(yaml.starts_with("# Imported by `hl7-harness profile import` from"), "{yaml}");
    assert!(yaml.contains("#   corpus/profiles/handwritten/hl7v2x/ADT_A04.xml:13: <DynamicDef>"));
    assert!(yaml.contains("message_profiles:"));
}

#[test]
fn show_prints_an_xml_or_yaml_profile_as_tables() {
    let output = run(&["profile", "show", "corpus/profiles/handwritten/nist/Profile.xml"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("ORU^R01 [oru-r01]"), "{text}");
    assert!(text.contains("PID-7") && text.contains("C(R/RE)") && text.contains("HL70001_EX"));
    let yaml = workspace().join("scenarios/builtin.profile.yaml");
    let output = run(&["profile", "show", yaml.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn broken_xml_is_refused_with_file_and_line() {
    let dir = temp_yaml("x").parent().expect("dir").to_path_buf();
    let cases: [(&str, &str, &str); 4] = [
        (
            "truncated.xml",
            "<HL7v2xConformanceProfile>\n<HL7v2xStaticDef MsgType=\"ADT\"",
            "truncated.xml:1:1: not well-formed XML",
        ),
        (
            "dtd.xml",
            "<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "dtd.xml:",
        ),
        ("other.xml", "<?xml version=\"1.0\"?>\n<html/>", "other.xml:2: root element <html>"),
        (
            "empty.xml",
            "<HL7v2xConformanceProfile HL7Version=\"2.5\"/>",
            "holds no <HL7v2xStaticDef>",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        let output = run(&["profile", "import", path.to_str().expect("utf-8")]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(stderr(&output).contains(expected), "{name}: {}", stderr(&output));
    }
}
