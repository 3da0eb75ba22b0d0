//! Reading the files a user names (config, env file, migrations, request bodies, CA bundles):
//! only regular files, and only up to a size. A FIFO blocks forever, `/dev/zero` never ends,
//! and a multi-gigabyte file by mistake must not take the machine's memory.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::units::format_size;

/// Config files and env files: far above any real one.
pub const CONFIG_LIMIT: u64 = 4 * 1024 * 1024;
/// One migration script: data migrations can be large, but not this large.
pub const MIGRATION_LIMIT: u64 = 256 * 1024 * 1024;
/// A request body or a certificate bundle.
pub const PAYLOAD_LIMIT: u64 = 16 * 1024 * 1024;

#[derive(Debug)]
pub enum ReadError {
    /// A directory, FIFO, socket or device: named by what it is.
    NotRegular(&'static str),
    TooLarge {
        size: u64,
        limit: u64,
    },
    Io(std::io::Error),
    /// Read whole, but not UTF-8 from `offset` on (for [`read_text_bounded`]).
    NotUtf8 {
        offset: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooLarge { size, limit } => write!(
                f,
                "it is larger than {} ({} or more)",
                format_size(*limit),
                format_size(*size)
            ),
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotUtf8 { offset } => {
                write!(f, "it is not UTF-8 text (invalid byte at offset {offset})")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// The bytes of the regular file at `path`, refusing anything else and anything over `limit`.
///
/// Four system calls a file (open, fstat, read, close): a migration run reads thousands.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut file = open(path)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if let Some(what) = not_regular(&metadata.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    let size = metadata.len();
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut bytes = vec![0u8; size as usize];
    let mut filled = 0;
    // A regular file gives its size in one read; the loop covers short reads. Bytes appended
    // after the fstat are not read: the file is taken as it was when opened.
    while filled < bytes.len() {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    bytes.truncate(filled);
    if size == 0 {
        // Files of /proc and the like report 0 and still hold text: read them, bounded.
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
        if bytes.len() as u64 > limit {
            return Err(ReadError::TooLarge {
                size: bytes.len() as u64,
                limit,
            });
        }
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text; the error says at which byte it stops being text.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Opens for reading without waiting. On Unix, non-blocking: opening a FIFO for reading would
/// otherwise wait for a writer. The type is then checked on the open file, so nothing can be
/// swapped in between.
#[cfg(unix)]
fn open(path: &Path) -> Result<std::fs::File, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(ReadError::Io)
}

/// Opens for reading. Windows has no FIFOs in the filesystem (its named pipes live under
/// `\\.\pipe\`, which is not a path anyone names by mistake), so a plain open does not block.
/// Opening a directory there fails ("Access is denied"): that is named as what it is.
#[cfg(not(unix))]
fn open(path: &Path) -> Result<std::fs::File, ReadError> {
    std::fs::File::open(path).map_err(|e| {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            ReadError::NotRegular("a directory")
        } else {
            ReadError::Io(e)
        }
    })
}

#[cfg(unix)]
fn not_regular(file_type: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_char_device() || file_type.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

#[cfg(not(unix))]
fn not_regular(file_type: &std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else {
        Some("not a regular file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), CONFIG_LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 2048]).unwrap();
        assert!(matches!(
            read_bounded(&big, 1024),
            Err(ReadError::TooLarge { size: 2048, .. })
        ));
        assert_eq!(read_bounded(&big, 4096).unwrap().len(), 2048);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices_and_fifos_without_blocking() {
        let err = read_bounded(Path::new("/dev/zero"), CONFIG_LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "it is a device, not a regular file");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        // mkfifo(1): rustix has no mknodat/mkfifoat on macOS.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", fifo.display());
        let err = read_bounded(&fifo, CONFIG_LIMIT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
    }
}
