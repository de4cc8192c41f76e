//! MLLP over TLS (`mllps://`) between `send` and `serve` processes, with certificates made in the
//! test: the server is verified against a CA file, a wrong CA is a clear handshake error, and
//! mutual TLS refuses a client without a certificate.

use crate::mllp::Server;
use crate::support::{run, stdout};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and an
/// unrelated CA, as PEM files.
pub fn pki(name: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("hl7-harness-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "hl7-harness test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    write(&dir, "ca.pem", &ca_cert.pem());

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    write(&dir, "server.pem", &server_cert.pem());
    write(&dir, "server.key", &server_key.serialize_pem());

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    write(&dir, "client.pem", &client_cert.pem());
    write(&dir, "client.key", &client_key.serialize_pem());

    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    write(&dir, "other-ca.pem", &other.self_signed(&other_key).unwrap().pem());
    Pki { dir }
}

const MESSAGE: &str = "corpus/adt/adt_a04_v26_utf8_latin.hl7";

#[test]
fn mllp_over_tls_verifies_the_server_and_mutual_tls_the_client() {
    let pki = pki("mllps");
    let (cert, key, ca) = (pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem"));
    let server = Server::with_args(&[
        OsStr::new("--tls-cert"),
        OsStr::new(&cert),
        OsStr::new("--tls-key"),
        OsStr::new(&key),
    ]);
    assert!(server.url.starts_with("mllps://127.0.0.1:"), "{}", server.url);
    let output = run(&["send", MESSAGE, "--target", &server.url, "--tls-ca", &ca]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(": AA, MSA-2 matches"), "{}", stdout(&output));

    let other = pki.path("other-ca.pem");
    let output =
        run(&["send", MESSAGE, "--target", &server.url, "--tls-ca", &other, "--retries", "0"]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("tls-handshake-failed") && text.contains("certificate"), "{text}");

    let output = run(&[
        "send",
        MESSAGE,
        "--target",
        &server.url.replace("mllps", "mllp"),
        "--tls-ca",
        &ca,
        "--retries",
        "0",
        "--ack-timeout",
        "1s",
    ]);
    assert_ne!(output.status.code(), Some(0), "plain MLLP to a TLS port is not accepted");
    drop(server);

    let mutual = Server::with_args(&[
        OsStr::new("--tls-cert"),
        OsStr::new(&cert),
        OsStr::new("--tls-key"),
        OsStr::new(&key),
        OsStr::new("--tls-client-ca"),
        OsStr::new(&ca),
    ]);
    let output = run(&[
        "send",
        MESSAGE,
        "--target",
        &mutual.url,
        "--tls-ca",
        &ca,
        "--retries",
        "0",
        "--ack-timeout",
        "2s",
    ]);
    assert_ne!(
        output.status.code(),
        Some(0),
        "no client certificate: refused\n{}",
        stdout(&output)
    );
    let (client, client_key) = (pki.path("client.pem"), pki.path("client.key"));
    let output = run(&[
        "send",
        MESSAGE,
        "--target",
        &mutual.url,
        "--tls-ca",
        &ca,
        "--tls-client-cert",
        &client,
        "--tls-client-key",
        &client_key,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    let output = run(&["send", MESSAGE, "--target", &mutual.url, "--tls-ca", "no/such/ca.pem"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        crate::support::stderr(&output).contains("no/such/ca.pem"),
        "{}",
        crate::support::stderr(&output)
    );
    let _ = std::fs::remove_dir_all(&pki.dir);
}
