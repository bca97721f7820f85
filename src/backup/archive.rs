//! The backup file: one tar stream whose first member is `manifest.json` (every other
//! member's size and SHA-256), compressed with zstd (with its frame checksum) and, given a
//! passphrase, encrypted whole with age (scrypt).
//!
//! Writing goes to a 0600 temporary file beside the target, fsynced and renamed over it, so a
//! backup file is complete or absent. Reading unpacks into a directory and checks every
//! member against the manifest, then reads the stream to its end (zstd's and age's own
//! checks): a file with one byte changed anywhere is refused, whatever the byte was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::{hex, random_bytes};

/// The layout this clawhost writes and reads.
pub(crate) const FORMAT: u32 = 1;
pub(crate) const MANIFEST: &str = "manifest.json";
/// The members a backup may hold besides its manifest, by name; nothing else is read.
pub(crate) const DATABASE: &str = "clawhost.db";
pub(crate) const OPENCLAW_ARCHIVE: &str = "openclaw.tar.gz";
pub(crate) const OPENCLAW_CONFIG: &str = "openclaw.json";
pub(crate) const CLAWHOST_CONFIG: &str = "clawhost.toml";
pub(crate) const SECRET_KEY: &str = "secret.key";
const MEMBERS: [&str; 5] = [
    DATABASE,
    OPENCLAW_ARCHIVE,
    OPENCLAW_CONFIG,
    CLAWHOST_CONFIG,
    SECRET_KEY,
];
/// What tar may read besides the members' bytes: a header and padding for each, the end.
const TAR_OVERHEAD: u64 = 512 * 3;
/// Largest manifest read (a few KiB in practice).
const MANIFEST_MAX: u64 = 1024 * 1024;
const ZSTD_LEVEL: i32 = 3;
/// scrypt's cost as a power of two: 2^17 is 128 MiB of memory for a moment and about half a
/// second here; a calibrated factor could ask a small server for more memory than it has.
const SCRYPT_LOG_N: u8 = 17;
/// The most a backup made elsewhere may ask of this machine to open (1 GiB).
const SCRYPT_MAX_LOG_N: u8 = 20;
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// How much of a file's start tells a backup from anything else.
pub(crate) const HEAD: usize = AGE_MAGIC.len();

/// What a backup holds, read before anything else.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) created_at: String,
    pub(crate) clawhost_version: String,
    /// The OpenClaw that made `openclaw.tar.gz`; `None` when OpenClaw was not installed.
    pub(crate) openclaw_version: Option<String>,
    pub(crate) encrypted: bool,
    /// Which key sealed the provider key in the database (an id that tells nothing of the
    /// key): a restore where that key is in use keeps the provider key.
    pub(crate) sealing_key: Option<String>,
    /// The provider chosen, never its key.
    pub(crate) provider: Option<ProviderNote>,
    pub(crate) whatsapp: Option<WhatsAppNote>,
    pub(crate) gateway_wanted_running: bool,
    pub(crate) members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProviderNote {
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) key_set: bool,
}

/// WhatsApp's link as it was: its keys change as it is used, so restoring older ones may
/// need a new link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct WhatsAppNote {
    /// When the link's credentials last changed (RFC 3339).
    pub(crate) credentials_changed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("this is not a clawhost backup")]
    NotABackup,
    #[error("this backup is encrypted: give its passphrase")]
    NeedsPassphrase,
    #[error("the passphrase does not open this backup")]
    WrongPassphrase,
    #[error(
        "this backup asks for more memory to open than this clawhost allows (scrypt 2^{0}); open it on the machine that made it"
    )]
    TooCostly(u8),
    #[error("this backup was made by a newer clawhost (format {0}); update clawhost first")]
    NewerFormat(u32),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
}

fn damaged(what: impl Into<String>) -> ArchiveError {
    ArchiveError::Damaged(what.into())
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that fails once it has given more bytes than its budget allows, which may grow:
/// tar reads some entries (long names, extensions) whole before anything can look at them,
/// so a small file could otherwise ask for gigabytes of memory.
struct Budget<R> {
    inner: R,
    left: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left.get();
        if left == 0 {
            return Err(io::Error::other("more data than its manifest declares"));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left.set(left - n as u64);
        Ok(n)
    }
}

/// A member's size and SHA-256, read from its file.
pub(crate) fn describe(name: &str, path: &Path) -> io::Result<Member> {
    let mut sink = Hashing {
        inner: io::sink(),
        hasher: Sha256::new(),
        written: 0,
    };
    io::copy(&mut File::open(path)?, &mut sink)?;
    Ok(Member {
        name: name.to_owned(),
        size: sink.written,
        sha256: hex(&sink.hasher.finalize()),
    })
}

/// Writes the manifest and then each member (read from `dir/<name>`) to `output`,
/// atomically and 0600. Returns the file's size.
pub(crate) fn write(
    output: &Path,
    manifest: &Manifest,
    dir: &Path,
    passphrase: Option<&SecretString>,
) -> Result<u64, ArchiveError> {
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The process's id in the name: a start removes those whose writer is gone.
    let temp = parent.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex(&random_bytes::<6>())
    ));
    let result = write_to(&temp, manifest, dir, passphrase).and_then(|size| {
        fs::rename(&temp, output)?;
        File::open(parent)?.sync_all()?;
        Ok(size)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_to(
    path: &Path,
    manifest: &Manifest,
    dir: &Path,
    passphrase: Option<&SecretString>,
) -> Result<u64, ArchiveError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let file = BufWriter::new(file);
    let file = if let Some(passphrase) = passphrase {
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        recipient.set_work_factor(SCRYPT_LOG_N);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| io::Error::other(e.to_string()))?;
        let mut sealed = encryptor.wrap_output(file)?;
        pack(&mut sealed, manifest, dir)?;
        sealed.finish()?
    } else {
        let mut plain = file;
        pack(&mut plain, manifest, dir)?;
        plain
    };
    let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

fn pack(out: &mut dyn Write, manifest: &Manifest, dir: &Path) -> Result<(), ArchiveError> {
    let mut zstd = zstd::Encoder::new(out, ZSTD_LEVEL)?;
    zstd.include_checksum(true)?;
    let mut tar = tar::Builder::new(zstd);
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    append(&mut tar, MANIFEST, json.len() as u64, json.as_slice())?;
    for member in &manifest.members {
        let file = File::open(dir.join(&member.name))?;
        append(&mut tar, &member.name, member.size, file.take(member.size))?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_size(size);
    tar.append_data(&mut header, name, data)
}

/// Reads `input` into `into` (an empty directory): every member checked against the
/// manifest, nothing else accepted. `into` may hold part of the members on an error.
pub(crate) fn unpack(
    input: &Path,
    passphrase: Option<&SecretString>,
    into: &Path,
) -> Result<Manifest, ArchiveError> {
    let mut file = BufReader::new(File::open(input)?);
    let mut magic = [0u8; HEAD];
    let read = read_up_to(&mut file, &mut magic)?;
    let magic = &magic[..read];
    let head = io::Cursor::new(magic.to_vec()).chain(file);
    let encrypted = kind_of(magic).ok_or(ArchiveError::NotABackup)?;
    if encrypted {
        let passphrase = passphrase.ok_or(ArchiveError::NeedsPassphrase)?;
        let decryptor = age::Decryptor::new(head).map_err(|_| damaged("its encryption header"))?;
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        identity.set_max_work_factor(SCRYPT_MAX_LOG_N);
        let opened = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::ExcessiveWork { required, .. } => {
                    ArchiveError::TooCostly(required)
                }
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    ArchiveError::WrongPassphrase
                }
                _ => damaged("its encryption header"),
            })?;
        read_all(opened, into, true)
    } else {
        read_all(head, into, false)
    }
}

/// `Some(encrypted)` when `head` (a file's first [`HEAD`] bytes, or all of a shorter one) starts
/// as a backup does; `None` when it does not, or cannot tell yet.
pub(crate) fn kind_of(head: &[u8]) -> Option<bool> {
    if head.len() >= AGE_MAGIC.len() && head.starts_with(AGE_MAGIC) {
        Some(true)
    } else if head.len() >= ZSTD_MAGIC.len() && head.starts_with(ZSTD_MAGIC) {
        Some(false)
    } else {
        None
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn read_all(input: impl Read, into: &Path, encrypted: bool) -> Result<Manifest, ArchiveError> {
    let zstd = zstd::Decoder::new(input).map_err(|_| damaged("its compression"))?;
    let budget = std::rc::Rc::new(std::cell::Cell::new(MANIFEST_MAX + TAR_OVERHEAD));
    let mut tar = tar::Archive::new(Budget {
        inner: zstd,
        left: budget.clone(),
    });
    let manifest = {
        let mut entries = tar.entries().map_err(|e| damaged(e.to_string()))?;
        let mut first = entries
            .next()
            .ok_or_else(|| damaged("it is empty"))?
            .map_err(|e| damaged(e.to_string()))?;
        if entry_name(&first).as_deref() != Some(MANIFEST) || first.size() > MANIFEST_MAX {
            return Err(ArchiveError::NotABackup);
        }
        let mut json = Vec::new();
        first
            .read_to_end(&mut json)
            .map_err(|e| damaged(e.to_string()))?;
        let manifest = parse_manifest(&json)?;
        if manifest.encrypted != encrypted {
            return Err(damaged("its manifest says otherwise of its encryption"));
        }
        // From here on, only what the manifest declares (and tar's headers and padding).
        let declared: u64 = manifest
            .members
            .iter()
            .map(|m| m.size.saturating_add(TAR_OVERHEAD))
            .fold(TAR_OVERHEAD, u64::saturating_add);
        budget.set(budget.get().saturating_add(declared));
        let mut seen = std::collections::HashSet::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
            let name = entry_name(&entry).ok_or_else(|| damaged("a member without a name"))?;
            let member = manifest
                .members
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| damaged(format!("{name} is not in its manifest")))?;
            if !seen.insert(name.clone()) || entry.header().entry_type() != tar::EntryType::Regular
            {
                return Err(damaged(format!("{name} appears twice or is not a file")));
            }
            if entry.size() != member.size {
                return Err(damaged(format!("{name} has another size than recorded")));
            }
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(into.join(&name))?;
            let mut out = Hashing {
                inner: BufWriter::new(file),
                hasher: Sha256::new(),
                written: 0,
            };
            io::copy(&mut (&mut entry).take(member.size), &mut out)
                .map_err(|e| damaged(format!("{name}: {e}")))?;
            out.inner
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .sync_all()?;
            if out.written != member.size || hex(&out.hasher.finalize()) != member.sha256 {
                return Err(damaged(format!("{name} does not match its checksum")));
            }
        }
        if let Some(missing) = manifest.members.iter().find(|m| !seen.contains(&m.name)) {
            return Err(damaged(format!("{} is missing", missing.name)));
        }
        manifest
    };
    // To the end of the stream: zstd's checksum and age's last tag are checked there. Only
    // the zero blocks tar ends with may be left.
    budget.set(budget.get().saturating_add(64 * 1024));
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(|e| damaged(e.to_string()))?;
    Ok(manifest)
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    let path = entry.path().ok()?;
    let name = path.to_str()?;
    allowed_name(name).then(|| name.to_owned())
}

/// A member's name: one plain file name, nothing that could climb out of a directory.
fn allowed_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn parse_manifest(json: &[u8]) -> Result<Manifest, ArchiveError> {
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let format: Format =
        serde_json::from_slice(json).map_err(|_| damaged("its manifest is unreadable"))?;
    if format.format > FORMAT {
        return Err(ArchiveError::NewerFormat(format.format));
    }
    let manifest: Manifest =
        serde_json::from_slice(json).map_err(|_| damaged("its manifest is unreadable"))?;
    if manifest
        .members
        .iter()
        .any(|m| !MEMBERS.contains(&m.name.as_str()))
    {
        return Err(damaged(
            "its manifest names a member clawhost does not write",
        ));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn sample(dir: &Path, encrypted: bool) -> Manifest {
        fs::write(dir.join("clawhost.db"), b"database bytes").expect("write");
        fs::write(dir.join("openclaw.json"), vec![7u8; 200_000]).expect("write");
        Manifest {
            format: FORMAT,
            created_at: "2026-12-06T23:00:00Z".into(),
            clawhost_version: "0.1.0".into(),
            openclaw_version: Some("2026.9.6".into()),
            encrypted,
            sealing_key: None,
            provider: None,
            whatsapp: None,
            gateway_wanted_running: true,
            members: vec![
                describe("clawhost.db", &dir.join("clawhost.db")).expect("describe"),
                describe("openclaw.json", &dir.join("openclaw.json")).expect("describe"),
            ],
        }
    }

    fn passphrase(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    /// A tar entry may declare a long name that tar reads whole before anyone can look at
    /// it; a few hundred bytes must not make it ask for gigabytes.
    #[test]
    fn a_long_name_bomb_is_cut_off_by_the_budget() {
        let root = tempfile::tempdir().expect("dir");
        let file = root.path().join("bomb.tar.zst");
        let mut zstd = zstd::Encoder::new(File::create(&file).expect("create"), 3).expect("zstd");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(8 << 30);
        header.set_cksum();
        zstd.write_all(header.as_bytes()).expect("header");
        for _ in 0..(64 * 1024) {
            zstd.write_all(&[b'a'; 1024]).expect("name");
        }
        zstd.finish().expect("finish");
        let out = root.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        assert!(unpack(&file, None, &out).is_err());
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let root = tempfile::tempdir().expect("dir");
        let staged = root.path().join("staged");
        fs::create_dir(&staged).expect("mkdir");
        let manifest = sample(&staged, false);
        let file = root.path().join("b.tar.zst");
        write(&file, &manifest, &staged, None).expect("write");
        let out = root.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        assert_eq!(unpack(&file, None, &out).expect("unpack"), manifest);
        assert_eq!(
            fs::read(out.join("clawhost.db")).expect("read"),
            b"database bytes"
        );
        let mode = fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// Every single byte changed is noticed: in the header, a member, the padding, the
    /// checksum at the end.
    #[test]
    fn any_byte_changed_is_refused() {
        let root = tempfile::tempdir().expect("dir");
        let staged = root.path().join("staged");
        fs::create_dir(&staged).expect("mkdir");
        let manifest = sample(&staged, false);
        let file = root.path().join("b.tar.zst");
        write(&file, &manifest, &staged, None).expect("write");
        let good = fs::read(&file).expect("read");
        let last = good.len() - 1;
        for (n, at) in (0..good.len()).step_by(7).chain([last]).enumerate() {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            fs::write(&file, &bad).expect("write");
            let out = root.path().join(format!("out-{n}"));
            fs::create_dir(&out).expect("mkdir");
            assert!(
                unpack(&file, None, &out).is_err(),
                "byte {at} of {} changed, yet accepted",
                good.len()
            );
        }
    }

    #[test]
    fn an_encrypted_backup_needs_its_passphrase() {
        let root = tempfile::tempdir().expect("dir");
        let staged = root.path().join("staged");
        fs::create_dir(&staged).expect("mkdir");
        let manifest = sample(&staged, true);
        let file = root.path().join("b.tar.zst.age");
        let secret = passphrase("correct horse battery staple");
        write(&file, &manifest, &staged, Some(&secret)).expect("write");
        let bytes = fs::read(&file).expect("read");
        assert!(bytes.starts_with(AGE_MAGIC));
        assert!(
            !bytes.windows(14).any(|w| w == b"database bytes"),
            "plain text inside"
        );
        let out = |n: &str| {
            let dir = root.path().join(n);
            fs::create_dir(&dir).expect("mkdir");
            dir
        };
        assert!(matches!(
            unpack(&file, None, &out("a")),
            Err(ArchiveError::NeedsPassphrase)
        ));
        assert!(matches!(
            unpack(&file, Some(&passphrase("wrong horse")), &out("b")),
            Err(ArchiveError::WrongPassphrase)
        ));
        assert_eq!(
            unpack(&file, Some(&secret), &out("c")).expect("opens"),
            manifest
        );
    }

    #[test]
    fn members_outside_the_manifest_or_with_odd_names_are_refused() {
        assert!(!allowed_name("../secret.key"));
        assert!(!allowed_name("a/b"));
        assert!(!allowed_name(".hidden"));
        assert!(allowed_name("openclaw.tar.gz"));
        let strange = br#"{"format": 1, "created_at": "", "clawhost_version": "", "openclaw_version": null, "encrypted": false, "sealing_key": null, "provider": null, "whatsapp": null, "gateway_wanted_running": false, "members": [{"name": "clawhost.db-wal", "size": 1, "sha256": ""}]}"#;
        assert!(matches!(
            parse_manifest(strange),
            Err(ArchiveError::Damaged(_))
        ));
        let newer = br#"{"format": 99}"#;
        assert!(matches!(
            parse_manifest(newer),
            Err(ArchiveError::NewerFormat(99))
        ));
        assert!(matches!(
            unpack(Path::new("/etc/hostname"), None, Path::new("/nonexistent")),
            Err(ArchiveError::NotABackup)
        ));
    }
}
