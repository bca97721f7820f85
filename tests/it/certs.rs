//! Certificates for the TLS tests, made with the openssl command: a throwaway CA, and
//! leaves for a name signed by it.

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/test installs it)");
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// `ca.pem` and `ca.key` in `dir`.
pub fn ca(dir: &Path) {
    let args = [
        &["req", "-x509"][..],
        &NEW_KEY,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=clawhost test CA",
        ],
    ]
    .concat();
    openssl(dir, &args);
}

/// A certificate for `name` (a DNS name) signed by the CA in `dir`, written to `cert` and
/// its key to `key` (file names in `dir`).
pub fn leaf(dir: &Path, name: &str, cert: &str, key: &str) {
    leaf_for(dir, name, &format!("DNS:{name}"), cert, key);
}

/// A certificate for the subject alternative names `san` (e.g. `DNS:localhost,IP:127.0.0.1`).
pub fn leaf_for(dir: &Path, name: &str, san: &str, cert: &str, key: &str) {
    let subject = format!("/CN={name}");
    let args = [
        &["req"][..],
        &NEW_KEY,
        &["-keyout", key, "-out", "leaf.csr", "-subj", &subject],
    ]
    .concat();
    openssl(dir, &args);
    std::fs::write(
        dir.join("leaf.ext"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}

/// The DER of the first certificate in the PEM file `path`.
pub fn first_der(path: &Path) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .expect("pem")
        .next()
        .expect("a certificate")
        .expect("parse")
        .to_vec()
}
