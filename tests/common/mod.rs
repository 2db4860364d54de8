//! Helpers shared by the integration tests: running the `tx` binary with a
//! time guard, scratch directories, writing `.npy` inputs without going
//! through tx's own writer, and a small JSON parser for `tx run --json`.
//!
//! Each test file includes this module and uses a part of it.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `tx` binary cargo built for these tests.
pub const TX: &str = env!("CARGO_BIN_EXE_tx");

/// The repository root, where `examples/` lives.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How long one run of the binary may take before the guard kills it. It is
/// a guard against hangs, not a measurement: no test result depends on speed.
pub const RUN_GUARD: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- scratch directories

/// A fresh directory under cargo's scratch space for integration tests,
/// removed when dropped.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new empty directory whose name starts with `label`.
    pub fn new(label: &str) -> ScratchDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` inside the directory and returns the path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------- running the binary

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    /// The guard killed the process after [`RUN_GUARD`].
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code, or `None` when a signal (or the guard) ended the
    /// process.
    pub fn code(&self) -> Option<i32> {
        if self.timed_out { None } else { self.status.code() }
    }

    /// A description for failure messages.
    pub fn describe(&self) -> String {
        let status =
            if self.timed_out { format!("still running after {RUN_GUARD:?}, killed") } else { self.status.to_string() };
        format!(
            "status: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            excerpt(&self.stdout),
            excerpt(&self.stderr)
        )
    }

    /// Fails unless the process exited with 0, 1 or 2 and printed no panic.
    pub fn assert_no_crash(&self, what: &str) {
        let clean = matches!(self.code(), Some(0..=2)) && !self.stderr.contains("panicked");
        assert!(clean, "{what}: expected exit code 0, 1 or 2 and no panic\n{}", self.describe());
    }
}

fn excerpt(text: &str) -> String {
    const LIMIT: usize = 1500;
    if text.len() <= LIMIT {
        return text.to_string();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// Runs `tx` with `args` in directory `cwd`, killing it if it runs longer
/// than [`RUN_GUARD`] (the outcome then says so, with no exit code).
pub fn run_tx(args: &[&str], cwd: &Path) -> Outcome {
    let child = Command::new(TX)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {TX}: {e}"));
    wait_guarded(child, &format!("tx {}", args.join(" ")))
}

/// Waits for `child`, reading its piped output on the side so that a full
/// pipe cannot block it, and kills it after [`RUN_GUARD`].
pub fn wait_guarded(mut child: Child, what: &str) -> Outcome {
    let stdout = child.stdout.take().map(reader_thread);
    let stderr = child.stderr.take().map(reader_thread);
    let deadline = Instant::now() + RUN_GUARD;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                break (child.wait().unwrap_or_else(|e| panic!("cannot wait for `{what}`: {e}")), true);
            }
            Err(e) => panic!("cannot wait for `{what}`: {e}"),
        }
    };
    let collect = |handle: Option<std::thread::JoinHandle<Vec<u8>>>| {
        handle.map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()).unwrap_or_default()
    };
    Outcome { status, timed_out, stdout: collect(stdout), stderr: collect(stderr) }
}

fn reader_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

// ---------------------------------------------------------------- deterministic data

/// Small exact test values: multiples of 1/8 in [-11/8, 11/8], the same in
/// f32 and f64. The same formula in Python is
/// `((np.arange(n) * 37 + k * 11) % 23 - 11) / 8.0 * scale`.
pub fn fill(n: usize, k: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|i| ((i * 37 + k * 11) % 23) as f64 - 11.0).map(|v| v / 8.0 * scale).collect()
}

/// A deterministic pseudo-random generator (SplitMix64) for the fuzzers:
/// the same seed gives the same sequence on every machine.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------- .npy

/// An element type of a `.npy` file, as numpy names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyType {
    F32,
    F64,
    I64,
    Bool,
}

impl NpyType {
    fn descr(self) -> &'static str {
        match self {
            NpyType::F32 => "<f4",
            NpyType::F64 => "<f8",
            NpyType::I64 => "<i8",
            NpyType::Bool => "|b1",
        }
    }
}

/// The bytes `numpy.save` writes for a C-ordered array of `shape` holding
/// `values` (converted to `ty`): format version 1.0, the header padded with
/// spaces so that the data starts at a multiple of 64 bytes.
pub fn npy_bytes(ty: NpyType, shape: &[usize], values: &[f64]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), values.len(), "the values must fill the shape");
    let dims = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}", ty.descr());
    // Magic (6) + version (2) + header length (2) + header + '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in values {
        match ty {
            NpyType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            NpyType::F64 => out.extend_from_slice(&v.to_le_bytes()),
            NpyType::I64 => out.extend_from_slice(&(v as i64).to_le_bytes()),
            NpyType::Bool => out.push(u8::from(v != 0.0)),
        }
    }
    out
}

// ---------------------------------------------------------------- JSON

/// A parsed JSON value. Objects keep their keys in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Nesting deeper than this is rejected, so the parser's recursion is bounded.
pub const JSON_MAX_DEPTH: usize = 64;

/// Parses one JSON document (RFC 8259), surrounded by optional whitespace.
pub fn parse_json(text: &str) -> Result<Json, String> {
    let mut parser = JsonParser { bytes: text.as_bytes(), at: 0 };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at != parser.bytes.len() {
        return Err(parser.error("trailing characters after the value"));
    }
    Ok(value)
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn error(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.at)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{}`", byte as char)))
        }
    }

    fn keyword(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > JSON_MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.keyword("true", Json::Bool(true)),
            Some(b'f') => self.keyword("false", Json::Bool(false)),
            Some(b'n') => self.keyword("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while !matches!(self.peek(), None | Some(b'"' | b'\\')) {
                if self.bytes[self.at] < 0x20 {
                    return Err(self.error("control character in a string"));
                }
                self.at += 1;
            }
            out.push_str(std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| self.error("invalid UTF-8"))?);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                _ => {
                    self.at += 1;
                    let escaped = self.peek().ok_or_else(|| self.error("unterminated escape"))?;
                    self.at += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hex =
                                self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.error("short \\u escape"))?;
                            let hex = std::str::from_utf8(hex).map_err(|_| self.error("bad \\u escape"))?;
                            let code = u32::from_str_radix(hex, 16).map_err(|_| self.error("bad \\u escape"))?;
                            self.at += 4;
                            // Surrogate pairs are not needed by these tests.
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error("unknown escape")),
                    }
                }
            }
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit after `.`"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("expected a digit in the exponent"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| self.error("invalid number"))?;
        text.parse::<f64>().map(Json::Number).map_err(|_| self.error("invalid number"))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

/// The outputs of `tx run --json`: name, shape, dtype and data (`None` for
/// a JSON `null`, which stands for NaN or an infinity), in order.
pub struct JsonOutput {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub data: Vec<Option<f64>>,
}

/// Parses the one line `tx run --json` prints, checking its layout:
/// `{"outputs": {"<name>": {"shape": [...], "dtype": "...", "data": [...]}}}`.
pub fn parse_run_json(stdout: &str) -> Result<Vec<JsonOutput>, String> {
    let line = stdout.strip_suffix('\n').ok_or("the output does not end with a newline")?;
    if line.contains('\n') {
        return Err("the output is more than one line".into());
    }
    let json = parse_json(line)?;
    let Json::Object(top) = &json else {
        return Err("the top level is not an object".into());
    };
    if top.len() != 1 || top[0].0 != "outputs" {
        return Err("the top level must hold exactly the key `outputs`".into());
    }
    let Json::Object(outputs) = &top[0].1 else {
        return Err("`outputs` is not an object".into());
    };
    let mut parsed = Vec::new();
    for (name, value) in outputs {
        let Json::Object(fields) = value else {
            return Err(format!("output `{name}` is not an object"));
        };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        if keys != ["shape", "dtype", "data"] {
            return Err(format!("output `{name}` has keys {keys:?}, expected shape, dtype, data"));
        }
        let shape = value.get("shape").and_then(Json::as_array).ok_or(format!("`{name}.shape` is not an array"))?;
        let shape: Vec<usize> = shape
            .iter()
            .map(|d| d.as_f64().filter(|n| n.fract() == 0.0 && *n >= 0.0).map(|n| n as usize))
            .collect::<Option<_>>()
            .ok_or(format!("`{name}.shape` is not a list of sizes"))?;
        let Some(Json::String(dtype)) = value.get("dtype") else {
            return Err(format!("`{name}.dtype` is not a string"));
        };
        let data = value.get("data").and_then(Json::as_array).ok_or(format!("`{name}.data` is not an array"))?;
        let data: Vec<Option<f64>> = data
            .iter()
            .map(|v| match v {
                Json::Number(n) => Ok(Some(*n)),
                Json::Bool(b) => Ok(Some(f64::from(u8::from(*b)))),
                Json::Null => Ok(None),
                _ => Err(format!("`{name}.data` holds something other than numbers")),
            })
            .collect::<Result<_, _>>()?;
        if data.len() != shape.iter().product::<usize>() {
            return Err(format!("`{name}` has {} elements for shape {shape:?}", data.len()));
        }
        parsed.push(JsonOutput { name: name.clone(), shape, dtype: dtype.clone(), data });
    }
    Ok(parsed)
}
