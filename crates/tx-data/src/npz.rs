//! NumPy `.npz` archives: a zip of `.npy` files, one per named array.
//!
//! Written uncompressed ("stored"), which `numpy.load` reads, atomically
//! (a temporary file renamed into place, as `npy::write_file` does). Read
//! stored or deflate-compressed entries (`np.savez` and
//! `np.savez_compressed`), checking every CRC. Zip64 archives (entries over
//! 4 GiB) are refused with an error.

use std::io::Read;
use std::path::Path;

use tx_tensor::Tensor;

use crate::npy;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// 1980-01-01, the earliest date zip can hold: archives are reproducible.
const DOS_DATE: u16 = 0x21;

/// The bytes of an `.npz` archive of `arrays` (named without `.npy`).
pub fn write(arrays: &[(&str, &Tensor)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, tensor) in arrays {
        let file = format!("{name}.npy");
        let data = npy::write(tensor);
        let (size, offset) = (u32::try_from(data.len()), u32::try_from(out.len()));
        let (Ok(size), Ok(offset)) = (size, offset) else {
            return Err(format!(
                "array `{name}` makes the archive larger than 4 GiB, which .npz without zip64 cannot hold"
            ));
        };
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let crc = crc.sum();
        let name_len = u16::try_from(file.len()).map_err(|_| format!("the array name `{name}` is too long"))?;
        // Local file header.
        put32(&mut out, LOCAL);
        for v in [20u16, 0, 0, 0, DOS_DATE] {
            put16(&mut out, v);
        }
        put32(&mut out, crc);
        put32(&mut out, size);
        put32(&mut out, size);
        put16(&mut out, name_len);
        put16(&mut out, 0);
        out.extend_from_slice(file.as_bytes());
        out.extend_from_slice(&data);
        // Its central directory entry.
        put32(&mut central, CENTRAL);
        for v in [20u16, 20, 0, 0, 0, DOS_DATE] {
            put16(&mut central, v);
        }
        put32(&mut central, crc);
        put32(&mut central, size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        for v in [0u16, 0, 0, 0] {
            put16(&mut central, v);
        }
        put32(&mut central, 0);
        put32(&mut central, offset);
        central.extend_from_slice(file.as_bytes());
    }
    let count = u16::try_from(arrays.len()).map_err(|_| "too many arrays for one .npz".to_string())?;
    let (Ok(central_size), Ok(central_offset)) = (u32::try_from(central.len()), u32::try_from(out.len())) else {
        return Err("the archive is larger than 4 GiB, which .npz without zip64 cannot hold".to_string());
    };
    out.extend_from_slice(&central);
    put32(&mut out, END);
    for v in [0u16, 0, count, count] {
        put16(&mut out, v);
    }
    put32(&mut out, central_size);
    put32(&mut out, central_offset);
    put16(&mut out, 0);
    Ok(out)
}

/// Writes an archive atomically: readers see the old file or the new one,
/// never a part.
pub fn write_file(path: &Path, arrays: &[(&str, &Tensor)]) -> Result<(), String> {
    let bytes = write(arrays)?;
    crate::npy::write_atomically(path, &bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// The arrays of an archive, in order, named without `.npy`.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    let end = (0..=bytes.len().saturating_sub(22))
        .rev()
        .take(65_536 + 22)
        .find(|&i| get32(bytes, i) == Some(END))
        .ok_or("not an .npz file: no zip directory found")?;
    let count = get16(bytes, end + 10).ok_or("truncated zip directory")? as usize;
    let mut at = get32(bytes, end + 16).ok_or("truncated zip directory")? as usize;
    if count == 0xffff || at == 0xffff_ffff {
        return Err("zip64 archives are not supported".to_string());
    }
    let mut arrays = Vec::with_capacity(count);
    for _ in 0..count {
        if get32(bytes, at) != Some(CENTRAL) {
            return Err("corrupt zip directory".to_string());
        }
        let field16 = |o: usize| get16(bytes, at + o).ok_or("truncated zip directory");
        let field32 = |o: usize| get32(bytes, at + o).ok_or("truncated zip directory");
        let method = field16(10)?;
        let crc = field32(16)?;
        let compressed = field32(20)? as usize;
        let size = field32(24)? as usize;
        let (name_len, extra_len, comment_len) = (field16(28)? as usize, field16(30)? as usize, field16(32)? as usize);
        let local = field32(42)? as usize;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or("truncated zip directory")?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;

        if get32(bytes, local) != Some(LOCAL) {
            return Err(format!("corrupt zip entry `{name}`"));
        }
        let local_name = get16(bytes, local + 26).ok_or("truncated zip entry")? as usize;
        let local_extra = get16(bytes, local + 28).ok_or("truncated zip entry")? as usize;
        let start = local + 30 + local_name + local_extra;
        let raw = bytes
            .get(start..start.saturating_add(compressed))
            .ok_or_else(|| format!("truncated zip entry `{name}`"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size.min(1 << 30));
                flate2::read::DeflateDecoder::new(raw)
                    .take(size as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("cannot decompress `{name}`: {e}"))?;
                out
            }
            other => {
                return Err(format!("zip entry `{name}` uses compression method {other}; tx reads stored and deflate"));
            }
        };
        let mut check = flate2::Crc::new();
        check.update(&data);
        if data.len() != size || check.sum() != crc {
            return Err(format!("zip entry `{name}` is corrupt (its size or CRC does not match)"));
        }
        let tensor = npy::read(&data).map_err(|e| format!("`{name}`: {e}"))?;
        arrays.push((name.strip_suffix(".npy").unwrap_or(&name).to_string(), tensor));
    }
    Ok(arrays)
}

pub fn read_file(path: &Path) -> Result<Vec<(String, Tensor)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    read(&bytes).map_err(|e| format!("`{}`: {e}", path.display()))
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn get16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn get32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn arrays() -> Vec<(String, Tensor)> {
        vec![
            (
                "W1".to_string(),
                Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]).unwrap()),
            ),
            ("W1.m".to_string(), Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.25, -0.5]).unwrap())),
            ("tx.epoch".to_string(), Tensor::I64(ArrayD::from_elem(IxDyn(&[]), 3))),
        ]
    }

    #[test]
    fn round_trips() {
        let original = arrays();
        let refs: Vec<(&str, &Tensor)> = original.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let bytes = write(&refs).unwrap();
        assert_eq!(read(&bytes).unwrap(), original);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error() {
        let original = arrays();
        let refs: Vec<(&str, &Tensor)> = original.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let bytes = write(&refs).unwrap();
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "a file cut at {cut} bytes was accepted");
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5a;
            // Either an error or (for bytes the CRC does not cover, like a
            // date) the same arrays; never a panic.
            if let Ok(read_back) = read(&bad) {
                assert_eq!(read_back.len(), original.len());
            }
        }
    }

    #[test]
    fn numpy_reads_what_we_write_and_we_read_what_numpy_writes() {
        let python = std::process::Command::new("python3").args(["-c", "import numpy"]).output();
        if !python.is_ok_and(|o| o.status.success()) {
            eprintln!("note: python3 with numpy is not available; the numpy round trip is not checked");
            return;
        }
        let dir = std::env::temp_dir().join(format!("tx-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ours = dir.join("ours.npz");
        let original = arrays();
        let refs: Vec<(&str, &Tensor)> = original.iter().map(|(n, t)| (n.as_str(), t)).collect();
        write_file(&ours, &refs).unwrap();
        let theirs = dir.join("theirs.npz");
        let script = format!(
            "import numpy as np\nz = np.load('{}')\nassert sorted(z.files) == ['W1', 'W1.m', 'tx.epoch']\n\
             assert z['W1'].dtype == np.float32 and z['W1'][0, 2] == 3.5 and int(z['tx.epoch']) == 3\n\
             np.savez_compressed('{}', a=np.arange(6, dtype=np.int64).reshape(2, 3), b=np.float64(0.5))",
            ours.display(),
            theirs.display()
        );
        let run = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let read_back = read_file(&theirs).unwrap();
        assert_eq!(read_back[0].0, "a");
        assert_eq!(read_back[0].1.to_f64s(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(read_back[1].1.to_f64s(), vec![0.5]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
