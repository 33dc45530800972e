//! Fleet files (JSON Lines) read on every core into a [`HostSink`].

use std::path::Path;

use super::error::CliError;
use shared::baseline::{BaselineHost, BaselineHosts};
use shared::profile::{HostProfile, ProfileError};

/// File extensions of fleet files: one profile JSON document a line (JSON Lines), as
/// `GET /api/v1/fleet.jsonl` writes them.
pub(super) const FLEET_FILE_EXTENSIONS: [&str; 2] = ["jsonl", "ndjson"];

pub(super) fn is_fleet_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| {
        FLEET_FILE_EXTENSIONS
            .iter()
            .any(|known| x.eq_ignore_ascii_case(known))
    })
}

/// Where hosts go as they are read, in input order: a `Vec` keeps them; a baseline folds each
/// into [`BaselineHosts`] and lets the profile go, so a fleet of any size streams through.
/// Each parsing thread fills sinks of its own, which are then appended in order.
pub(super) trait HostSink: Default + Send {
    /// What a line of a fleet file is read into: all of a profile, or what the sink needs.
    type Line: Send;
    fn parse_line(json: &str) -> Result<Self::Line, ProfileError>;
    fn add_line(&mut self, host: Self::Line);
    /// A host read from a file of its own (a profile or a dump).
    fn add(&mut self, host: HostProfile);
    /// The hosts of `later`, which come after these.
    fn append(&mut self, later: Self);
    fn is_empty(&self) -> bool;
}

impl HostSink for Vec<HostProfile> {
    type Line = HostProfile;
    fn parse_line(json: &str) -> Result<HostProfile, ProfileError> {
        HostProfile::from_json(json)
    }
    fn add_line(&mut self, host: HostProfile) {
        self.push(host);
    }
    fn add(&mut self, host: HostProfile) {
        self.push(host);
    }
    fn append(&mut self, mut later: Self) {
        Vec::append(self, &mut later);
    }
    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// A baseline reads only its part of each line of a fleet file ([`BaselineHost`]), in half the
/// time of a whole profile; the rest of the line is not checked.
impl HostSink for BaselineHosts {
    type Line = BaselineHost;
    fn parse_line(json: &str) -> Result<BaselineHost, ProfileError> {
        BaselineHost::from_json(json)
    }
    fn add_line(&mut self, host: BaselineHost) {
        self.add_host(&host);
    }
    fn add(&mut self, host: HostProfile) {
        BaselineHosts::add(self, &host);
    }
    fn append(&mut self, later: Self) {
        BaselineHosts::append(self, later);
    }
    fn is_empty(&self) -> bool {
        BaselineHosts::is_empty(self)
    }
}

/// Bytes of a fleet file a parsing thread takes at a time: the file is streamed through a few
/// reused buffers of this size.
const FLEET_BLOCK_BYTES: usize = 256 << 10;

/// Every host of a fleet file, in its order; a line that is not a profile is an error naming
/// the file and line (a fleet file is written by a tool, so nothing is skipped silently).
///
/// This thread reads the file in blocks of whole lines (raw bytes, nothing scanned but for the
/// last newline) while one thread per core parses them into a sink of the block's own. Parsed
/// blocks come back with their buffer, which is read into again, and join `sink` in file order
/// as soon as their turn comes. Fresh memory is what costs most on a VM: see BENCHMARKS.md,
/// baseline against virsh.
pub(super) fn read_fleet_file<S: HostSink>(path: &Path, sink: &mut S) -> Result<(), CliError> {
    use std::io::Read;
    use std::sync::{Arc, Mutex, mpsc};

    /// A parsed block: its hosts, how many, and how many lines it has; or the line (counted
    /// within the block, from 1) and what is wrong with it.
    type Block<S> = Result<(S, usize, usize), (usize, String)>;
    let parse_block = |block: &[u8]| -> Block<S> {
        let mut hosts = S::default();
        let (mut n_hosts, mut n_lines) = (0, 0);
        let text = std::str::from_utf8(block).map_err(|e| {
            let line = 1 + block[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            (line, format!("not UTF-8 text ({e})"))
        })?;
        // Blocks end with a newline, but for the file's last line.
        let body = text.strip_suffix('\n').unwrap_or(text);
        for line in body.split('\n') {
            n_lines += 1;
            if !line.trim().is_empty() {
                let host = S::parse_line(line).map_err(|e| (n_lines, e.to_string()))?;
                hosts.add_line(host);
                n_hosts += 1;
            }
        }
        Ok((hosts, n_hosts, n_lines))
    };

    let mut file = std::fs::File::open(path).map_err(|e| CliError::read(path, e))?;
    let n_threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut waiting: std::collections::BTreeMap<usize, Block<S>> = Default::default();
    let (mut n_joined, mut n_hosts, mut n_lines) = (0, 0, 0);
    let mut join = |index: usize, parsed: Block<S>| -> Result<(), CliError> {
        waiting.insert(index, parsed);
        while let Some(next) = waiting.remove(&n_joined) {
            let (hosts, n, lines) = next.map_err(|(line, message)| CliError::FleetLine {
                path: path.to_owned(),
                line: n_lines + line,
                message,
            })?;
            sink.append(hosts);
            n_hosts += n;
            n_lines += lines;
            n_joined += 1;
        }
        Ok(())
    };
    let (to_parse, blocks) = mpsc::sync_channel::<(usize, Vec<u8>)>(n_threads);
    // Only the parsing threads hold the receiver: were they all gone, sending fails, not hangs.
    let blocks = Arc::new(Mutex::new(blocks));
    let (to_join, parsed) = mpsc::channel::<(usize, Block<S>, Vec<u8>)>();
    std::thread::scope(|s| {
        for _ in 0..n_threads {
            let (to_join, blocks) = (to_join.clone(), Arc::clone(&blocks));
            let parse_block = &parse_block;
            s.spawn(move || {
                loop {
                    // The lock is held only to take the next block.
                    let next = blocks.lock().map(|b| b.recv());
                    let Ok(Ok((index, block))) = next else {
                        break;
                    };
                    let result = parse_block(&block);
                    if to_join.send((index, result, block)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((to_join, blocks));
        // Leaving early (an error) drops `to_parse`: the parsing threads stop after their block.
        let mut spare: Vec<Vec<u8>> = Vec::new();
        // The start of a line that did not fit in the previous block.
        let mut carry: Vec<u8> = Vec::new();
        for index in 0.. {
            for (i, result, block) in parsed.try_iter() {
                join(i, result)?;
                spare.push(block);
            }
            let mut block = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(FLEET_BLOCK_BYTES));
            block.clear();
            block.append(&mut carry);
            let mut at_end = false;
            // At least one whole line, however long (only new bytes are searched for its end).
            let (mut scanned, mut has_newline) = (0, false);
            while block.len() < FLEET_BLOCK_BYTES || !has_newline {
                let want = (FLEET_BLOCK_BYTES.saturating_sub(block.len())).max(1 << 16) as u64;
                match (&mut file).take(want).read_to_end(&mut block) {
                    Ok(0) => {
                        at_end = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(CliError::read(path, e));
                    }
                }
                has_newline = has_newline || block[scanned..].contains(&b'\n');
                scanned = block.len();
            }
            if !at_end && let Some(last_newline) = block.iter().rposition(|&b| b == b'\n') {
                carry.extend_from_slice(&block[last_newline + 1..]);
                block.truncate(last_newline + 1);
            }
            if block.is_empty() || to_parse.send((index, block)).is_err() {
                break;
            }
        }
        drop(to_parse);
        for (i, result, _) in parsed.iter() {
            join(i, result)?;
        }
        Ok(())
    })?;
    if n_hosts == 0 {
        return Err(CliError::EmptyFleet {
            path: path.to_owned(),
        });
    }
    Ok(())
}
