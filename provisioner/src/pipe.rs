//! Standard output that a closed pipe cannot fail (`provisioner diff | head -1`).
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone returns
//! `BrokenPipe`. Treated as an error, that would stop a deploy half-way
//! and exit 2 ("nothing was changed"), which is false. Like ripgrep and
//! cargo, the output simply ends there: later writes are discarded, the
//! command runs to its end and exits with its own status.

use std::io::{self, Write};

#[derive(Debug)]
pub struct ClosedPipeIsTheEnd<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeIsTheEnd<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    /// Whether the reader went away (what was written since was dropped).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn absorb<T>(&mut self, result: io::Result<T>, otherwise: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(otherwise)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for ClosedPipeIsTheEnd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that goes away after `room` bytes.
    struct Pipe {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.taken.len() >= self.room {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room - self.taken.len());
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_after_the_reader_left_are_dropped_without_an_error() {
        let mut out = ClosedPipeIsTheEnd::new(Pipe {
            taken: Vec::new(),
            room: 6,
        });
        writeln!(out, "first line").unwrap();
        writeln!(out, "second line").unwrap();
        out.flush().unwrap();
        assert!(out.is_closed());
        assert_eq!(out.inner.taken, b"first ");
    }

    #[test]
    fn other_write_errors_still_fail() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = ClosedPipeIsTheEnd::new(Full);
        assert_eq!(
            writeln!(out, "x").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        assert!(!out.is_closed());
    }
}
