//! Small helpers every floor may use: hashing, progress bars, the static
//! ELF check, directory locks.

pub mod dir_lock;
pub mod elf;
pub mod hashing;
pub mod progress;
