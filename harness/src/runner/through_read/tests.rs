//! The reading of one store, from a real folder and a real `sh`, with short bounds.

use super::*;

const A: &str = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M1|P|2.5\rPID|1\r";
const B: &str = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M2|P|2.5\rPID|1\r";

fn setup(source: ReadSource) -> ReadSetup {
    ReadSetup {
        source,
        every: Duration::from_millis(20),
        timeout: Duration::from_millis(1500),
        max_bytes: 1024,
        max_messages: 5,
    }
}

/// A fresh folder of the test's own.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl7-read-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    dir
}

async fn prepare(setup: &ReadSetup, dir: &Path) -> ReadDestination {
    prepare_hiding(setup, dir, &Secrets::default()).await
}

async fn prepare_hiding(setup: &ReadSetup, dir: &Path, secrets: &Secrets) -> ReadDestination {
    let destinations = BTreeMap::new();
    let places = Placeholders { workdir: dir, scenario_dir: dir, destinations: &destinations };
    ReadDestination::prepare("d", setup, &places, secrets, Instant::now()).await.expect("prepared")
}

fn payloads(arrivals: &[Arrival]) -> Vec<String> {
    arrivals.iter().map(|a| String::from_utf8_lossy(&a.payload).into_owned()).collect()
}

/// Only files new since the case started, each once, in modification-time then name order;
/// hidden names and folders skipped, links refused, files over the bound refused; every
/// arrival accepted with no answer.
#[tokio::test]
async fn a_folder_gives_each_new_file_once() {
    let dir = folder("dir");
    std::fs::write(dir.join("old.hl7"), A).expect("written");
    let reader = prepare(&setup(ReadSource::Dir("{workdir}".into())), &dir).await;
    std::fs::write(dir.join("b.hl7"), B.replace('\r', "\r\n")).expect("written");
    std::fs::write(dir.join("a.hl7"), A).expect("written");
    std::fs::write(dir.join(".a.hl7.tmp"), "half").expect("written");
    std::fs::create_dir_all(dir.join("sub")).expect("a subfolder");
    std::fs::write(dir.join("big.hl7"), "x".repeat(2000)).expect("written");
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link.hl7")).expect("a link");
    let (arrivals, record) = reader.stop(&Secrets::default()).await;
    let got = payloads(&arrivals);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.contains(&A.to_string()) && got.contains(&B.to_string()),
        "CRLF read as CR: {got:?}"
    );
    assert!(arrivals.iter().all(|a| a.accepted && a.answer == READ_ANSWER && !a.rejected));
    assert_eq!(record.problems.len(), 2, "{:?}", record.problems);
    assert!(record.problems.iter().any(|p| p.contains("link.hl7: a symbolic link")));
    assert!(record.problems.iter().any(|p| p.contains("big.hl7: 2000 bytes, more than 1024")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// While the case runs a file is read only once it held still between two reads; order is
/// modification time first.
#[tokio::test]
async fn a_file_is_read_once_it_holds_still_and_in_time_order() {
    let dir = folder("still");
    let mut reader = prepare(&setup(ReadSource::Dir(dir.display().to_string())), &dir).await;
    std::fs::write(dir.join("z.hl7"), A).expect("written");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.join("a.hl7"), B).expect("written");
    reader.start();
    let until = Instant::now() + Duration::from_secs(5);
    while reader.accepted() < 2 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (arrivals, record) = reader.stop(&Secrets::default()).await;
    assert_eq!(payloads(&arrivals), [A, B], "z.hl7 was written first");
    assert!(record.reads >= 2 && record.problems.is_empty(), "{record:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A command's output is a list of the store: what it listed before the case is left out,
/// each message is taken once across reads, a second copy is a second arrival, and the
/// case's cap holds.
#[tokio::test]
async fn a_command_lists_the_store_and_new_copies_are_taken() {
    let dir = folder("cmd");
    std::fs::write(dir.join("1.hl7"), A).expect("written");
    let command = vec!["sh".into(), "-c".into(), "cat {workdir}/*.hl7".into()];
    let setup = setup(ReadSource::Command(command));
    let mut reader = prepare(&setup, &dir).await;
    let mut reading = reader.reading.lock().await;
    take_output(&mut reading, format!("{A}{B}").as_bytes(), Duration::from_millis(5), 5);
    take_output(&mut reading, format!("{A}{B}{B}").as_bytes(), Duration::from_millis(9), 5);
    take_output(&mut reading, format!("{B}{A}{B}").as_bytes(), Duration::from_millis(9), 5);
    assert_eq!(payloads(&reading.arrivals), [B, B], "A was there before the case");
    take_output(&mut reading, format!("{A}{A}{A}{A}{A}{A}{A}").as_bytes(), Duration::ZERO, 5);
    assert_eq!(reading.arrivals.len(), 5);
    assert!(reading.counted.iter().any(|(p, _)| p.contains("more than 5 messages")));
    drop(reading);
    std::fs::write(dir.join("2.hl7"), B).expect("written");
    reader.start();
    let (arrivals, record) = reader.stop(&Secrets::default()).await;
    assert_eq!(arrivals.len(), 5);
    assert!(record.how.starts_with("sh -c cat /"), "{}", record.how);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failing, slow or talkative command is a problem with its reason, never a hang; its
/// output is not used. The command line is shown with secret values hidden.
#[tokio::test]
async fn a_failing_command_is_a_problem_not_a_hang() {
    let dir = folder("fail");
    let cases: [(&str, &str); 4] = [
        ("echo oops >&2; exit 3", "exited with code 3: oops"),
        ("sleep 10", "did not finish within 300 ms"),
        ("head -c 5000 /dev/zero", "printed more than 1024 bytes"),
        ("", "exited"),
    ];
    for (script, wanted) in cases {
        let command = vec!["sh".into(), "-c".into(), format!("{script} # s3cret")];
        let mut setup = setup(ReadSource::Command(command));
        setup.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let secrets = Secrets::of_values(["s3cret".to_string()]);
        let reader = prepare_hiding(&setup, &dir, &secrets).await;
        let (arrivals, record) = reader.stop(&secrets).await;
        assert!(started.elapsed() < Duration::from_secs(3), "{script}: bounded");
        if script.is_empty() {
            assert!(record.problems.is_empty() && arrivals.is_empty(), "{record:?}");
            continue;
        }
        assert!(arrivals.is_empty());
        assert!(record.problems.iter().any(|p| p.contains(wanted)), "{script}: {record:?}");
        assert!(!record.how.contains("s3cret"), "{}", record.how);
    }
    let missing = setup(ReadSource::Command(vec!["/no/such/program".into()]));
    let (_, record) = prepare(&missing, &dir).await.stop(&Secrets::default()).await;
    assert!(record.problems.iter().any(|p| p.contains("could not start")), "{record:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn placeholders_fill_and_relative_folders_are_the_scenarios() {
    let destinations: BTreeMap<String, String> = [("x".to_string(), "h:1".to_string())].into();
    let places = Placeholders {
        workdir: Path::new("/w"),
        scenario_dir: Path::new("/s"),
        destinations: &destinations,
    };
    assert_eq!(
        places.fill("{workdir}/a {scenario_dir} {destination.x} {destination.y}"),
        "/w/a /s h:1 {destination.y}"
    );
    let relative = setup(ReadSource::Dir("out".into()));
    assert_eq!(read_folder(&relative, &places), Some(PathBuf::from("/s/out")));
    let command = setup(ReadSource::Command(vec!["cat".into()]));
    assert_eq!(read_folder(&command, &places), None);
}
