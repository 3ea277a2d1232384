//! The node's long-term ed25519 identity, the file that keeps it, and the `PeerId` text form
//! that operators use to name peers.
//!
//! The key file is a small text file (format in `proto/PROTOCOL.md`, "Identity file"). It
//! holds the secret seed and the public key, so that a change to either part is detected on
//! load. A missing, corrupt, altered or group/other-readable file is an error: roost never
//! silently makes a new identity, because a new identity is a new peer that has lost all the
//! trust the old one earned.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

/// Name of the identity file inside the data directory.
pub const IDENTITY_FILE: &str = "identity.key";
/// First line of every identity file, naming the format and its version.
const FILE_MAGIC: &str = "roost-identity v1";
/// Largest identity file read; anything bigger is not one of ours.
const MAX_FILE_LEN: u64 = 4096;
/// Prefix hashed with the public key to derive a [`PeerId`], so the hash cannot be confused
/// with any other SHA-256 of a key.
const PEER_ID_DOMAIN: &[u8] = b"roost/peer-id/v1\0";
/// Bytes of the key hash kept in a [`PeerId`]: 120 bits, exactly 24 base32 characters.
pub const PEER_ID_BYTES: usize = 15;
/// Characters of a [`PeerId`]'s text form.
pub const PEER_ID_CHARS: usize = PEER_ID_BYTES * 8 / 5;
/// Crockford's base32 alphabet, lowercase: no i, l, o or u, so no two characters look alike.
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Every way loading, saving or naming an identity can fail. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity file does not exist.
    #[error("no identity at {}: create one with `roost keygen`", .path.display())]
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// Refusing to replace an existing identity.
    #[error("an identity already exists at {}; `roost keygen --force` replaces it, and the node then becomes a new peer with a new PeerId", .path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The key file can be read by the group or others.
    #[error("{} is accessible by group or others (mode {mode:04o}); refusing to use a secret key others may have read. Fix with `chmod 600 {}` if that is safe", .path.display(), .path.display())]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path is a directory, a device or something else that is not a regular file.
    #[error("{} is not a regular file", .path.display())]
    NotAFile {
        /// The offending path.
        path: PathBuf,
    },
    /// The file is not in the identity file format.
    #[error("identity file {} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file is well-formed but its parts disagree: it was altered.
    #[error("identity file {} was tampered with: {reason}; restore it from a backup (do not regenerate unless you mean to become a new peer)", .path.display())]
    Tampered {
        /// The key file.
        path: PathBuf,
        /// Which parts disagree.
        reason: &'static str,
    },
    /// Reading or writing failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// Text that is not a PeerId.
    #[error("invalid PeerId {text:?}: {reason}")]
    BadPeerId {
        /// The text given (shortened).
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> IdentityError + 'a {
    move |source| IdentityError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A short name for a public key that people can read, paste and compare: 24 lowercase
/// Crockford base32 characters of a SHA-256 of the key. No separators, so a double-click
/// selects it whole. It is a fingerprint: it names a key but cannot be turned back into one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; PEER_ID_BYTES]);

impl PeerId {
    /// The PeerId of a public key given as its 32 bytes (valid point or not).
    pub fn from_public_key(public: &[u8; 32]) -> PeerId {
        let mut h = Sha256::new();
        h.update(PEER_ID_DOMAIN);
        h.update(public);
        let digest = h.finalize();
        let mut id = [0u8; PEER_ID_BYTES];
        id.copy_from_slice(&digest[..PEER_ID_BYTES]);
        PeerId(id)
    }

    /// The PeerId of a parsed key.
    pub fn of(key: &VerifyingKey) -> PeerId {
        PeerId::from_public_key(key.as_bytes())
    }

    /// The raw fingerprint bytes, for compact storage.
    pub fn as_bytes(&self) -> &[u8; PEER_ID_BYTES] {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 120 bits, most significant first, 5 bits per character.
        let mut acc: u128 = 0;
        for b in self.0 {
            acc = (acc << 8) | u128::from(b);
        }
        let mut out = [0u8; PEER_ID_CHARS];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 5 * (PEER_ID_CHARS - 1 - i);
            *c = CROCKFORD[((acc >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

/// Reads the text form. Case is ignored and Crockford's look-alikes are accepted (`o` for
/// `0`, `i` and `l` for `1`), so an id read aloud or retyped still parses.
impl FromStr for PeerId {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<PeerId, IdentityError> {
        let bad = |reason| IdentityError::BadPeerId {
            text: text.chars().take(40).collect(),
            reason,
        };
        let t = text.trim();
        if t.len() != PEER_ID_CHARS {
            return Err(bad("a PeerId has exactly 24 characters"));
        }
        let mut acc: u128 = 0;
        for c in t.bytes() {
            let c = match c.to_ascii_lowercase() {
                b'o' => b'0',
                b'i' | b'l' => b'1',
                c => c,
            };
            let v = CROCKFORD
                .iter()
                .position(|&a| a == c)
                .ok_or_else(|| bad("only the characters 0-9 and a-z except u are allowed"))?;
            acc = (acc << 5) | v as u128;
        }
        let mut id = [0u8; PEER_ID_BYTES];
        for (i, b) in id.iter_mut().enumerate() {
            *b = (acc >> (8 * (PEER_ID_BYTES - 1 - i))) as u8;
        }
        Ok(PeerId(id))
    }
}

/// This node's key pair. The secret never leaves the process except into its own file.
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.peer_id())
    }
}

impl Identity {
    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Identity {
        Identity::generate_with(&mut rand_core::OsRng)
    }

    /// A fresh identity from the given random source (deterministic in tests and the
    /// simulator).
    pub fn generate_with(rng: &mut impl CryptoRngCore) -> Identity {
        Identity {
            key: SigningKey::generate(rng),
        }
    }

    /// The identity of a known 32-byte seed (test keys, vectors).
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        Identity {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The signing key, for the wire `Sealer`.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key bytes, as carried in every frame header.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The name operators see.
    pub fn peer_id(&self) -> PeerId {
        PeerId::of(&self.key.verifying_key())
    }

    /// The file contents for this identity.
    fn to_file_text(&self) -> String {
        format!(
            "{FILE_MAGIC}\n\
             # roost node identity. SECRET: keep this file mode 0600 and never share it.\n\
             peer-id {}\n\
             public-key {}\n\
             secret-key {}\n",
            self.peer_id(),
            hex_lower(&self.public_key()),
            hex_lower(self.key.as_bytes()),
        )
    }

    /// Parses file contents; `path` only names the file in errors.
    fn from_file_text(text: &str, path: &Path) -> Result<Identity, IdentityError> {
        let corrupt = |reason: String| IdentityError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let mut lines = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        if lines.next() != Some(FILE_MAGIC) {
            return Err(corrupt(format!("the first line must be {FILE_MAGIC:?}")));
        }
        let mut field = |name: &str| -> Result<String, IdentityError> {
            match lines.next().and_then(|l| l.split_once(' ')) {
                Some((n, v)) if n == name => Ok(v.trim().to_owned()),
                _ => Err(corrupt(format!("expected a {name:?} line"))),
            }
        };
        let peer_id = field("peer-id")?;
        let public = field("public-key")?;
        let secret = field("secret-key")?;
        if let Some(extra) = lines.next() {
            let shown: String = extra.chars().take(30).collect();
            return Err(corrupt(format!("unexpected line {shown:?}")));
        }
        let public = parse_key_hex(&public)
            .ok_or_else(|| corrupt("public-key must be 64 lowercase hex digits".into()))?;
        let secret = parse_key_hex(&secret)
            .ok_or_else(|| corrupt("secret-key must be 64 lowercase hex digits".into()))?;
        let peer_id: PeerId = peer_id
            .parse()
            .map_err(|_| corrupt("peer-id is not a PeerId".into()))?;
        let identity = Identity::from_seed(secret);
        let tampered = |reason| IdentityError::Tampered {
            path: path.to_owned(),
            reason,
        };
        if identity.public_key() != public {
            return Err(tampered("the public key does not belong to the secret key"));
        }
        if identity.peer_id() != peer_id {
            return Err(tampered("the peer-id does not belong to the public key"));
        }
        Ok(identity)
    }

    /// Loads an identity file. Refuses a file that others can read, that is not a regular
    /// file, or whose contents are malformed or inconsistent.
    pub fn load(path: &Path) -> Result<Identity, IdentityError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IdentityError::NotFound {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(io_err("cannot open", path)(e)),
        };
        // Checked on the open file, so the file checked is the file read.
        let meta = file.metadata().map_err(io_err("cannot inspect", path))?;
        if !meta.is_file() {
            return Err(IdentityError::NotAFile {
                path: path.to_owned(),
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err("cannot read", path))?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(IdentityError::Corrupt {
                path: path.to_owned(),
                reason: format!("larger than {MAX_FILE_LEN} bytes"),
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| IdentityError::Corrupt {
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        Identity::from_file_text(&text, path)
    }

    /// Writes the identity atomically with mode 0600: a temporary file in the same directory,
    /// flushed to disk, then moved into place and the directory flushed, so a crash leaves
    /// either the old file or the new one, never a partial key. Without `overwrite`, an
    /// existing file is never replaced (checked atomically, not before the fact). Missing
    /// parent directories are created with mode 0700.
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<(), IdentityError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("cannot create directory", &dir))?;
        if !overwrite && fs::symlink_metadata(path).is_ok() {
            return Err(IdentityError::Exists {
                path: path.to_owned(),
            });
        }
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(IDENTITY_FILE);
        let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = self.write_new(&tmp).and_then(|()| {
            if overwrite {
                fs::rename(&tmp, path).map_err(io_err("cannot move into place", path))
            } else {
                // A hard link fails if the target exists: no window for a race.
                match fs::hard_link(&tmp, path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        Err(IdentityError::Exists {
                            path: path.to_owned(),
                        })
                    }
                    Err(e) => Err(io_err("cannot move into place", path)(e)),
                }
            }
        });
        // After a rename the temporary name is gone; after a link or a failure it remains.
        let _ = fs::remove_file(&tmp);
        result?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("cannot flush directory", &dir))
    }

    fn write_new(&self, tmp: &Path) -> Result<(), IdentityError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .map_err(io_err("cannot create", tmp))?;
        f.write_all(self.to_file_text().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("cannot write", tmp))
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn parse_key_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Where the identity file lives in a data directory.
pub fn identity_path(data_dir: &Path) -> PathBuf {
    data_dir.join(IDENTITY_FILE)
}

/// The data directory when none is configured: `$ROOST_DATA_DIR`; else `/var/lib/roost`
/// for root (a system service); else `$XDG_DATA_HOME/roost`; else
/// `$HOME/.local/share/roost`; else `./roost-data` as a last resort.
pub fn default_data_dir() -> PathBuf {
    crate::config::default_data_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn peer_id_text_round_trips_and_is_pinned() {
        let id = Identity::from_seed([0x01; 32]).peer_id();
        let text = id.to_string();
        assert_eq!(text.len(), PEER_ID_CHARS);
        assert!(text.bytes().all(|b| CROCKFORD.contains(&b)));
        assert_eq!(text.parse::<PeerId>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<PeerId>().unwrap(), id);
        // The look-alikes of Crockford's alphabet.
        let zero = "0".repeat(24).parse::<PeerId>().unwrap();
        assert_eq!("o".repeat(24).parse::<PeerId>().unwrap(), zero);
        assert_eq!(
            "1".repeat(24).parse::<PeerId>().unwrap(),
            "iIlL".repeat(6).parse::<PeerId>().unwrap()
        );
        assert!("u".repeat(24).parse::<PeerId>().is_err());
        assert!(text[1..].parse::<PeerId>().is_err());
        // Pinned: changing the derivation changes every node's name.
        let mut h = Sha256::new();
        h.update(b"roost/peer-id/v1\0");
        h.update(Identity::from_seed([0x01; 32]).public_key());
        assert_eq!(id.as_bytes()[..], h.finalize()[..15]);
        // Computed independently (Python hashlib) for PROTOCOL.md.
        assert_eq!(text, "60bexxygshxm3a7g049yr0zv");
    }

    #[test]
    fn peer_id_bit_order() {
        let mut b = [0u8; PEER_ID_BYTES];
        b[0] = 0b1000_0100; // first char 10000 = 'g', second starts with 100
        b[14] = 0x1f;
        let text = PeerId(b).to_string();
        assert!(text.starts_with("gg"), "{text}");
        assert!(text.ends_with('z'), "{text}");
    }

    #[test]
    fn save_load_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = identity_path(&dir.path().join("sub"));
        let id = Identity::from_seed([9; 32]);
        id.save(&path, false).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(Identity::load(&path).unwrap().peer_id(), id.peer_id());
        assert!(matches!(
            Identity::from_seed([8; 32]).save(&path, false),
            Err(IdentityError::Exists { .. })
        ));
        assert_eq!(Identity::load(&path).unwrap().peer_id(), id.peer_id());
        Identity::from_seed([8; 32]).save(&path, true).unwrap();
        let replaced = Identity::load(&path).unwrap();
        assert_eq!(replaced.peer_id(), Identity::from_seed([8; 32]).peer_id());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::InsecurePermissions { mode: 0o640, .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        let text = fs::read_to_string(&path).unwrap();
        let secret_line = text.lines().find(|l| l.starts_with("secret-key")).unwrap();
        let mut altered = secret_line.to_owned();
        let last = altered.pop().unwrap();
        altered.push(if last == '0' { '1' } else { '0' });
        fs::write(&path, text.replace(secret_line, &altered)).unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::Tampered { .. })
        ));
        fs::write(&path, "roost-identity v1\npeer-id x\n").unwrap();
        assert!(matches!(
            Identity::load(&path),
            Err(IdentityError::Corrupt { .. })
        ));
        assert!(matches!(
            Identity::load(&dir.path().join("none")),
            Err(IdentityError::NotFound { .. })
        ));
        assert!(matches!(
            Identity::load(dir.path()),
            Err(IdentityError::NotAFile { .. }) | Err(IdentityError::InsecurePermissions { .. })
        ));
    }

    #[test]
    fn every_single_character_change_is_detected() {
        let id = Identity::from_seed([5; 32]);
        let text = id.to_file_text();
        let path = Path::new("test");
        assert_eq!(
            Identity::from_file_text(&text, path).unwrap().public_key(),
            id.public_key()
        );
        let key_lines_start = text.find("peer-id").unwrap();
        for (i, c) in text.char_indices().skip(key_lines_start) {
            if c == '\n' {
                continue;
            }
            for replacement in ['0', 'f', 'z', ' '] {
                if replacement == c {
                    continue;
                }
                let mut t = text.clone();
                t.replace_range(i..i + 1, &replacement.to_string());
                if let Ok(other) = Identity::from_file_text(&t, path) {
                    // Only Crockford look-alikes or case in the peer-id may survive, and they
                    // name the same identity.
                    assert_eq!(other.public_key(), id.public_key(), "{i} {replacement}");
                }
            }
        }
    }
}
